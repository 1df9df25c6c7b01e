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
        params:
            videos_dir=config["howto100m"]["videos_dir"],
            size=config["howto100m"]["size"],
        log:
            "results/logs/howto100m_sources.log",
        benchmark:
            "results/benchmarks/howto100m_sources.tsv"
        resources:
            **job_resources("howto100m_sources"),
        conda:
            "../envs/download.yaml"
        script:
            "../workflow_scripts/howto100m_sources.py"
