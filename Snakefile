# groundprobe: how well speech in web videos is grounded in what they show.
# Stages and layout: see docs/stages.md; the method: Hessel et al. 2020.

from snakemake.utils import min_version

# The version pyproject.toml pins; the executor plugin and the DAG figures are for 9.27.
min_version("9.27")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo_corpus.smk"
include: "rules/demo_recovery.smk"
include: "rules/yt8m_sources.smk"
include: "rules/howto100m_sources.smk"
include: "rules/manifest.smk"
include: "rules/download.smk"
include: "rules/shard_listing.smk"
include: "rules/features.smk"
include: "rules/asr.smk"
include: "rules/segments.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/curate.smk"
include: "rules/probe.smk"
include: "rules/curation_comparison.smk"
include: "rules/segment_auc.smk"
include: "rules/context_effects.smk"
include: "rules/lexical_ols.smk"
include: "rules/auc_by_vertical.smk"
include: "rules/correlations.smk"
include: "rules/model_comparison.smk"
include: "rules/qc.smk"
include: "rules/funnel.smk"
include: "rules/crosstask.smk"


rule all:
    default_target: True
    input:
        "results/auc_by_category.csv",
        "results/funnel.csv",
        ANALYSIS_TARGETS,
