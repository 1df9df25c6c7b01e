"""Glue for rule segments: candidate segments with their tokens for each shard of one block, as a
table and as the shard's segment index (fingerprinted with its feature files' sha256, read here
once so that training never hashes features)."""

from pathlib import Path

from groundprobe.captions.asr import vocabulary_ids
from groundprobe.features.store import FeatureStore
from groundprobe.io import file_sha256, read_table, setup_logging, write_table
from groundprobe.ingest.manifest import block_shards
from groundprobe.ingest.qc import qc_frame
from groundprobe.captions.segments import shard_segments, write_segment_index
from groundprobe.settings import SegmentSettings

log = setup_logging(snakemake.log[0])
settings = SegmentSettings.from_config(snakemake.params.segments, "segments")
vocabulary = vocabulary_ids(read_table(snakemake.input.vocab))
words_dir, out = Path(snakemake.input.words), Path(snakemake.output.segments)
out.mkdir(parents=True, exist_ok=True)
qc = []
for shard in block_shards(snakemake.wildcards.block):
    features = [str(Path(snakemake.input[f"features_{stream}"]) / f"{shard}.h5") for stream in ("2d", "3d")]
    with FeatureStore([features[0]], [features[1]]) as store:
        # Seconds covered by both streams; a video missing from one was recorded by that stage's QC.
        n_seconds = {video_id: store.n_seconds(video_id) for video_id in store.video_ids}
    segments, shard_qc = shard_segments(
        n_seconds,
        read_table(words_dir / f"{shard}.tsv.gz"),
        vocabulary,
        settings.length_s,
        settings.candidates,
        settings.max_tokens,
        settings.seed,
    )
    write_table(segments, out / f"{shard}.tsv.gz")
    fingerprint = write_segment_index(
        segments, settings.length_s, [file_sha256(path) for path in features], out / f"{shard}.h5"
    )
    qc += shard_qc
    log.info(
        "shard %s: %d segments from %d videos, %d videos to QC; fingerprint %s",
        shard,
        len(segments),
        segments["video_id"].nunique(),
        len(shard_qc),
        fingerprint,
    )
write_table(qc_frame(qc), snakemake.output.qc)
