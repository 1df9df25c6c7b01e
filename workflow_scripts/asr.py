"""Glue for rule asr: timed word tokens of one shard's caption files."""

from groundprobe.asr import extract_shard_words
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame

log = setup_logging(snakemake.log[0])
download = read_table(snakemake.input.download)
videos = download[download["status"] == "ok"].rename(columns={"captions_path": "captions"})
words, readings, qc = extract_shard_words(videos[["video_id", "captions", "caption_kind"]])
write_table(words, snakemake.output.words)
write_table(readings, snakemake.output.readings)
write_table(qc_frame(qc), snakemake.output.qc)
for reading in readings[readings["read_as"] != readings["caption_kind"]].itertuples():
    log.warning("%s: %s captions labelled %s are YouTube rolling ASR by their content: read as %s",
                reading.video_id, reading.format, reading.caption_kind, reading.read_as)
log.info("%d videos: %d tokens from %d videos, %d videos to QC", len(videos), len(words),
         words["video_id"].nunique(), len(qc))
