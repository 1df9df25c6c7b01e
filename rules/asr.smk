rule asr:
    input:
        download="results/download/{shard}.tsv",
    output:
        words="results/asr/{shard}.tsv.gz",
        # per caption file: format, label (caption_kind) and the parser used (read_as)
        readings="results/asr/{shard}.readings.tsv",
        qc="results/qc/asr/{shard}.tsv",
    params:
        # The caption language check (groundprobe.caption_language): what it accepts decides results.
        caption_languages=config["download"]["caption_languages"],
        language=config["asr"]["language"],
        # The local caption files' content: editing one reruns this shard (a touch does not).
        captions=local_input_fingerprint("captions"),
    log:
        "results/logs/asr/{shard}.log",
    benchmark:
        "results/benchmarks/asr/{shard}.tsv"
    resources:
        **job_resources("asr"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/asr.py"


rule vocab:
    input:
        # results/asr/{shard}.tsv.gz of every shard, listed (rules/shard_listing.smk).
        words="results/shards/asr.txt",
        manifest="results/manifest.tsv",
    output:
        vocab="results/vocab.tsv",
    params:
        min_count=config["asr"]["min_count"],
        max_size=config["asr"]["max_size"],
    log:
        "results/logs/vocab.log",
    benchmark:
        "results/benchmarks/vocab.tsv"
    resources:
        **job_resources("vocab"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/vocab.py"
