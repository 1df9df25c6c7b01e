rule lexical_ols:
    input:
        segment_auc="results/segment_auc.csv",
    output:
        coefficients="results/lexical_ols.csv",
        ftest="results/lexical_ftest.csv",
        summaries="results/lexical_ols_summaries.txt",
    params:
        lexical_ols=config["analysis"]["lexical_ols"],
    log:
        "results/logs/lexical_ols.log",
    benchmark:
        "results/benchmarks/lexical_ols.tsv"
    conda:
        "../envs/groundprobe.yaml"
    script:
        "../workflow_scripts/lexical_ols.py"
