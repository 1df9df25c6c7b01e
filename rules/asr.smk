rule asr:
    input:
        download=block_shard_files("results/download/{shard}.tsv"),
    output:
        # per shard: {shard}.tsv.gz, the words, and {shard}.readings.tsv, per caption file its
        # format, label (caption_kind) and the parser used (read_as)
        words=directory("results/asr/{block}"),
        qc="results/qc/asr/{block}.tsv",
    log:
        "results/logs/asr/{block}.log",
    benchmark:
        "results/benchmarks/asr/{block}.tsv"
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("asr", shards=SHARDS_PER_BLOCK),
    params:
        # The caption language check (groundprobe.captions.caption_language): what it accepts decides results.
        caption_languages=config["download"]["caption_languages"],
        language=config["asr"]["language"],
        # The local caption files' content: editing one reruns this block (a touch does not).
        captions=local_input_fingerprint("captions"),
    script:
        "../workflow_scripts/asr.py"


rule vocab:
    input:
        # results/asr/{block}/{shard}.tsv.gz of every shard, listed (rules/shard_listing.smk).
        words="results/shards/source/asr.txt",
        manifest="results/manifest.tsv",
    output:
        vocab="results/vocab.tsv",
    log:
        "results/logs/vocab.log",
    benchmark:
        "results/benchmarks/vocab.tsv"
    conda:
        "../envs/download.yaml"
    resources:
        **job_resources("vocab"),
    params:
        min_count=config["asr"]["min_count"],
        max_size=config["asr"]["max_size"],
    script:
        "../workflow_scripts/vocab.py"
