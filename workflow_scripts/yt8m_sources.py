"""Glue for rule yt8m_sources: YouTube-8M id list (+ instructional labels) -> sources table."""

from groundprobe.io import read_text_table, setup_logging, write_text_table
from groundprobe.ingest.yt8m_sources import yt8m_sources

log = setup_logging(snakemake.log[0])
labels = read_text_table(snakemake.input.instructional[0]) if snakemake.input.instructional else None
sources = yt8m_sources(read_text_table(snakemake.input.ids), labels)
write_text_table(sources, snakemake.output.sources)
log.info(
    "%d videos (%s), %d with an instructional label",
    len(sources),
    sources["split"].value_counts().to_dict(),
    (sources["instructional"] != "").sum(),
)
