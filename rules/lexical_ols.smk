rule lexical_ols:
    input:
        segment_auc=per_block("results/segment_auc/{block}"),
    output:
        coefficients=report("results/lexical_ols.csv", caption="../report/lexical_ols.rst", category="4. Lexical OLS"),
        words=report(
            "results/lexical_ols_words.csv", caption="../report/lexical_ols_words.rst", category="4. Lexical OLS"
        ),
        ftest=report("results/lexical_ftest.csv", caption="../report/lexical_ftest.rst", category="4. Lexical OLS"),
        summaries=report(
            "results/lexical_ols_summaries.txt",
            caption="../report/lexical_ols_summaries.rst",
            category="4. Lexical OLS",
        ),
    log:
        "results/logs/lexical_ols.log",
    benchmark:
        "results/benchmarks/lexical_ols.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("lexical_ols"),
    params:
        # Without its execution setting accumulator_mb (groundprobe.config.EXECUTION_SETTINGS),
        # which the script reads from the config: it bounds memory, not results.
        lexical_ols=result_params(config["analysis"], "analysis")["lexical_ols"],
    script:
        "../workflow_scripts/lexical_ols.py"
