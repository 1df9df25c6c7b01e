"""Glue for rule asr: timed word tokens of one shard's caption files, in an accepted language."""

from groundprobe.asr import extract_shard_words
from groundprobe.caption_language import LanguageCheck, check_caption_languages
from groundprobe.io import read_table, setup_logging, write_table
from groundprobe.qc import qc_frame

log = setup_logging(snakemake.log[0])
download = read_table(snakemake.input.download)
videos = download[download["status"] == "ok"].rename(columns={"captions_path": "captions"})
words, readings, qc = extract_shard_words(videos[["video_id", "captions", "caption_kind"]])
for reading in readings[readings["read_as"] != readings["caption_kind"]].itertuples():
    log.warning("%s: %s captions labelled %s are YouTube rolling ASR by their content: read as %s",
                reading.video_id, reading.format, reading.caption_kind, reading.read_as)
check = LanguageCheck.from_config(snakemake.params.caption_languages, snakemake.params.language)
words, language_qc, verdicts = check_caption_languages(
    words, dict(zip(videos["video_id"], videos["captions"])), check)
for video_id, verdict in verdicts.items():
    log.info("%s: %s: %s", video_id, "kept" if verdict.accepted else "not_english", verdict.findings())
write_table(words, snakemake.output.words)
write_table(readings, snakemake.output.readings)
write_table(qc_frame(qc + language_qc), snakemake.output.qc)
log.info("%d videos: %d tokens from %d videos, %d videos to QC (%d not in %s)", len(videos),
         len(words), words["video_id"].nunique(), len(qc) + len(language_qc), len(language_qc),
         ", ".join(check.languages))
