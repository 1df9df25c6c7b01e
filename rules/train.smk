rule train:
    input:
        # Every shard's files of the model's training corpus, listed (rules/shard_listing.smk):
        # evaluate's jobs, one per block, depend on train, and Snakemake checks each against
        # train's whole input list.
        segments=training_listing("segments"),
        features_2d=training_listing("features_2d"),
        features_3d=training_listing("features_3d"),
        vocab="results/vocab.tsv",
        manifest="results/manifest.tsv",
        curation=curation_input,
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        log_tsv="results/models/{model}/train_log.tsv",
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources("train", config["train"]["threads"], config["train"]["device"]),
    params:
        model_spec=model_spec,
        model=config["model"],
        train=training_params,
        draw=curation_draw,
        segments=config["segments"],
    script:
        "../workflow_scripts/train.py"
