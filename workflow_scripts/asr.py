"""Glue for rule asr: timed word tokens of one block's caption files, in an accepted language, one
table per shard."""

from pathlib import Path

from groundprobe.captions.asr import extract_shard_words
from groundprobe.captions.caption_language import LanguageCheck, check_caption_languages
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_shards
from groundprobe.ingest.qc import qc_frame

log = setup_logging(snakemake.log[0])
check = LanguageCheck.from_config(snakemake.params.caption_languages, snakemake.params.language)
out = Path(snakemake.output.words)
out.mkdir(parents=True, exist_ok=True)
qc = []
for shard, download in zip(block_shards(snakemake.wildcards.block), snakemake.input.download):
    table = read_table(download)
    videos = table[table["status"] == "ok"].rename(columns={"captions_path": "captions"})
    words, readings, shard_qc = extract_shard_words(videos[["video_id", "captions", "caption_kind"]])
    for reading in readings[readings["read_as"] != readings["caption_kind"]].itertuples():
        log.warning(
            "%s: %s captions labelled %s are YouTube rolling ASR by their content: read as %s",
            reading.video_id,
            reading.format,
            reading.caption_kind,
            reading.read_as,
        )
    words, language_qc, verdicts = check_caption_languages(
        words, dict(zip(videos["video_id"], videos["captions"])), check
    )
    for video_id, verdict in verdicts.items():
        log.info("%s: %s: %s", video_id, "kept" if verdict.accepted else "not_english", verdict.findings())
    write_table(words, out / f"{shard}.tsv.gz")
    # per caption file: format, label (caption_kind) and the parser used (read_as)
    write_table(readings, out / f"{shard}.readings.tsv")
    qc += shard_qc + language_qc
    log.info(
        "shard %s: %d videos: %d tokens from %d videos, %d videos to QC (%d not in %s)",
        shard,
        len(videos),
        len(words),
        words["video_id"].nunique(),
        len(shard_qc) + len(language_qc),
        len(language_qc),
        ", ".join(check.languages),
    )
write_table(qc_frame(qc), snakemake.output.qc)
