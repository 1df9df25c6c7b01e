# HowTo100M's release (Miech et al. 2019) -> a sources table, with a WebVTT file per video from its
# caption file (config howto100m).
if config["howto100m"]["videos"]:

    rule howto100m_sources:
        input:
            videos=config["howto100m"]["videos"],
            captions=config["howto100m"]["captions"],
        output:
            sources="results/howto100m/sources.tsv",
            # <video_id>.vtt per video with captions
            captions=directory("results/howto100m/captions"),
        log:
            "results/logs/howto100m_sources.log",
        benchmark:
            "results/benchmarks/howto100m_sources.tsv"
        conda:
            "../envs/download.yaml"
        resources:
            **job_resources("howto100m_sources"),
        params:
            videos_dir=config["howto100m"]["videos_dir"],
            size=config["howto100m"]["size"],
        script:
            "../workflow_scripts/howto100m_sources.py"
