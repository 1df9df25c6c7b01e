"""Glue for rule howto100m_sources: HowTo100M's video list and caption file -> a sources table."""

from groundprobe.ingest.howto100m import write_howto100m_sources
from groundprobe.io import setup_logging

log = setup_logging(snakemake.log[0])
n_videos, n_captioned = write_howto100m_sources(
    snakemake.input.videos,
    snakemake.input.captions,
    snakemake.params.videos_dir,
    snakemake.params.size,
    snakemake.output.sources,
    snakemake.output.captions,
)
log.info("HowTo100M: %d videos (size %s), %d with captions", n_videos, snakemake.params.size, n_captioned)
if n_captioned < n_videos:
    log.warning(
        "%d videos have no captions in %s: their download records no_captions (local "
        "files) or takes YouTube's own captions (yt-dlp)",
        n_videos - n_captioned,
        snakemake.input.captions,
    )
