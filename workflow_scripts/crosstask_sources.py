"""Glue for rule crosstask_sources: the CrossTask video list -> a sources table of yt-dlp rows."""

from groundprobe.ingest.crosstask_sources import read_video_list, sources_from_video_list
from groundprobe.io import setup_logging, write_text_table

log = setup_logging(snakemake.log[0])
table = sources_from_video_list(read_video_list(snakemake.input.videos))
write_text_table(table, snakemake.output.sources)
log.info("CrossTask sources: %d videos to fetch with yt-dlp", len(table))
