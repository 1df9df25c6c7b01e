rule demo_corpus:
    output:
        **demo_optional_outputs(),
        sources=f"{config['demo_corpus']['out_dir']}/sources.tsv",
        truth=f"{config['demo_corpus']['out_dir']}/planted_truth.json",
    log:
        "results/logs/demo_corpus.log",
    benchmark:
        "results/benchmarks/demo_corpus.tsv"
    conda:
        "../envs/download.yaml"
    threads: 2
    resources:
        **job_resources("demo_corpus"),
    params:
        demo=config["demo_corpus"],
    script:
        "../workflow_scripts/demo_corpus.py"
