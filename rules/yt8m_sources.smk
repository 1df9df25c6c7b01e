# Corpus construction as in the paper: a YouTube-8M id list -> the sources table (config/youtube600k.yaml).
if config["yt8m"]["ids"]:

    rule yt8m_sources:
        input:
            ids=config["yt8m"]["ids"],
            instructional=yt8m_instructional_input,
        output:
            sources=config["yt8m"]["sources"],
        log:
            "results/logs/yt8m_sources.log",
        benchmark:
            "results/benchmarks/yt8m_sources.tsv"
        conda:
            "../envs/download.yaml"
        resources:
            **job_resources("yt8m_sources"),
        script:
            "../workflow_scripts/yt8m_sources.py"
