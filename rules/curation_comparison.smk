# The curation comparison (CUPID's Fig. 3) and the domain-gap probe of the whole-source baseline.


rule curation_comparison:
    input:
        selections=[f"results/curation/{strategy}_{label}.tsv" for strategy, label, _ in CURATION_ENTRIES],
        # Entry by entry, the seeds of each in order (CURATED_MODELS).
        probes=[f"results/probes/target/{model}.tsv" for model in CURATED_MODELS],
        baseline=f"results/probes/target/{config['curation']['baseline']}.tsv",
    output:
        csv=report(
            "results/curation_comparison.csv", caption="../report/curation_comparison.rst", category="6. Curation"
        ),
        png=report(
            "results/figures/curation_comparison.png",
            caption="../report/curation_comparison_figure.rst",
            category="6. Curation",
        ),
        svg="results/figures/curation_comparison.svg",
    log:
        "results/logs/curation_comparison.log",
    benchmark:
        "results/benchmarks/curation_comparison.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("curation_comparison"),
    params:
        entries=CURATION_ENTRIES,
        seeds=len(CURATION_SEEDS),
        metric=config["retrieval"]["figure_metric"],
    script:
        "../workflow_scripts/curation_comparison.py"


rule domain_gap:
    input:
        source=f"results/probes/source/{config['curation']['baseline']}.tsv",
        target=f"results/probes/target/{config['curation']['baseline']}.tsv",
    output:
        csv=report("results/domain_gap.csv", caption="../report/domain_gap.rst", category="6. Curation"),
    log:
        "results/logs/domain_gap.log",
    benchmark:
        "results/benchmarks/domain_gap.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **job_resources("domain_gap"),
    script:
        "../workflow_scripts/domain_gap.py"
