# Probes of one trained model on one corpus's validation videos (CUPID, Zhou et al. 2021): zero-shot
# text->video retrieval and the mean intra-video AUC.


rule probe:
    input:
        checkpoint="results/models/{model}/checkpoint.pt",
        segments=corpus_blocks("results/segments/{block}"),
        features_2d=corpus_blocks("results/features/2d/{block}"),
        features_3d=corpus_blocks("results/features/3d/{block}"),
        manifest="results/manifest.tsv",
    output:
        probe="results/probes/{corpus}/{model}.tsv",
        ranks="results/probes/{corpus}/{model}.ranks.tsv.gz",
    log:
        "results/logs/probe/{corpus}/{model}.log",
    benchmark:
        "results/benchmarks/probe/{corpus}/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources("probe", config["train"]["threads"], config["train"]["device"]),
    params:
        retrieval=result_params(config["retrieval"], "retrieval"),
    script:
        "../workflow_scripts/probe.py"
