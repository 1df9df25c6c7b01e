rule demo_corpus:
    output:
        sources=f"{config['demo_corpus']['out_dir']}/sources.tsv",
        truth=f"{config['demo_corpus']['out_dir']}/planted_truth.json",
        **demo_optional_outputs(),
    params:
        demo=config["demo_corpus"],
    log:
        "results/logs/demo_corpus.log",
    benchmark:
        "results/benchmarks/demo_corpus.tsv"
    threads: 2
    resources:
        **job_resources("demo_corpus"),
    conda:
        "../envs/download.yaml"
    script:
        "../workflow_scripts/demo_corpus.py"
