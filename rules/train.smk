rule train:
    input:
        segments=per_shard("results/segments/{shard}.h5"),
        features_2d=per_shard("results/features/2d/{shard}.h5"),
        features_3d=per_shard("results/features/3d/{shard}.h5"),
        vocab="results/vocab.tsv",
        manifest="results/manifest.tsv",
        curation=curation_input,
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        log_tsv="results/models/{model}/train_log.tsv",
    params:
        model_spec=model_spec,
        model=config["model"],
        train=training_params,
        draw=curation_draw,
        segments=config["segments"],
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    threads: config["train"]["threads"]
    resources:
        **job_resources("train", config["train"]["threads"], config["train"]["device"]),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow_scripts/train.py"
