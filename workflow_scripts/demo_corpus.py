"""Glue for rule demo_corpus: generate the embedded demo corpus next to its sources table."""

from pathlib import Path

from groundprobe.demo.corpus import generate_demo_corpus
from groundprobe.io import setup_logging
from groundprobe.settings import DemoCorpusSettings

setup_logging(snakemake.log[0])
generate_demo_corpus(
    DemoCorpusSettings.from_config(snakemake.params.demo, "demo_corpus"),
    Path(snakemake.output.sources).parent,
    workers=snakemake.threads,
)
