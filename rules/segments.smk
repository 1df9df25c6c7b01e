rule segments:
    input:
        words="results/asr/{shard}.tsv.gz",
        features_2d="results/features/2d/{shard}.h5",
        features_3d="results/features/3d/{shard}.h5",
        vocab="results/vocab.tsv",
    output:
        segments="results/segments/{shard}.tsv.gz",
        # The same segments as CSR arrays, read per video by rule train (groundprobe.segments).
        index="results/segments/{shard}.h5",
        qc="results/qc/segments/{shard}.tsv",
    params:
        segments=config["segments"],
    log:
        "results/logs/segments/{shard}.log",
    benchmark:
        "results/benchmarks/segments/{shard}.tsv"
    resources:
        **job_resources("segments"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow_scripts/segments.py"
