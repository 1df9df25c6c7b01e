rule model_comparison:
    input:
        diverse=per_block(f"results/evaluate/{config['analysis']['model_comparison']['diverse']}/{{block}}"),
        instructional=per_block(f"results/evaluate/{config['analysis']['model_comparison']['instructional']}/{{block}}"),
        # Split and human instructional label of every video.
        manifest="results/manifest.tsv",
    output:
        csv=report(
            "results/model_comparison.csv",
            caption="../report/model_comparison.rst",
            category="5. Instructional videos",
        ),
    log:
        "results/logs/model_comparison.log",
    benchmark:
        "results/benchmarks/model_comparison.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("model_comparison"),
    params:
        models=config["analysis"]["model_comparison"],
    script:
        "../workflow_scripts/model_comparison.py"
