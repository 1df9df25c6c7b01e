rule context_effects:
    input:
        segment_auc=per_block("results/segment_auc/{block}"),
    output:
        csv=report(
            "results/context_effects.csv", caption="../report/context_effects.rst", category="3. Context effects"
        ),
        token_slopes=report(
            "results/context_token_slopes.csv",
            caption="../report/context_token_slopes.rst",
            category="3. Context effects",
        ),
        position_png=report(
            "results/figures/context_position.png",
            caption="../report/context_position_figure.rst",
            category="3. Context effects",
        ),
        position_svg="results/figures/context_position.svg",
        tokens_png=report(
            "results/figures/context_tokens.png",
            caption="../report/context_tokens_figure.rst",
            category="3. Context effects",
        ),
        tokens_svg="results/figures/context_tokens.svg",
    log:
        "results/logs/context_effects.log",
    benchmark:
        "results/benchmarks/context_effects.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("context_effects"),
    params:
        context=config["analysis"]["context_effects"],
        confidence=config["evaluate"]["confidence"],
    script:
        "../workflow_scripts/context_effects.py"
