"""Glue for rule train: one joint embedding model on the manifest rows its spec selects, or on the
videos of its draw of a curation table (curated models), in as many processes as the rule has GPUs
(resources gpu; one process without it)."""

from groundprobe.model.distributed import TrainingJob, train_processes
from groundprobe.io import setup_logging
from groundprobe.ingest.manifest import read_shard_listing
from groundprobe.settings import ModelSettings, SegmentSettings, TrainSettings

# The training processes are spawned: each imports this file as its main module, and the guard
# keeps them from running the rule again.
if __name__ == "__main__":
    log = setup_logging(snakemake.log[0])
    n_processes = max(1, int(snakemake.resources.get("gpu", 1)))
    job = TrainingJob(
        model=snakemake.wildcards.model,
        segments=read_shard_listing(snakemake.input.segments),
        features_2d=read_shard_listing(snakemake.input.features_2d),
        features_3d=read_shard_listing(snakemake.input.features_3d),
        vocab=str(snakemake.input.vocab),
        manifest=str(snakemake.input.manifest),
        curation=str(snakemake.input.curation[0]) if snakemake.input.curation else None,
        draw=snakemake.params.draw,
        model_spec=dict(snakemake.params.model_spec),
        model_settings=ModelSettings.from_config(snakemake.params.model, "model"),
        # Execution settings (device, threads, checkpoint and log intervals) and the CPU fallback
        # come from the config, not params: they never change the weights. The params' seed (a
        # curated model's own) wins over the config's.
        train_settings=TrainSettings.for_job(snakemake.params.train, snakemake.config["train"], "train"),
        allow_cpu_fallback=snakemake.config["resources"]["allow_cpu_fallback"],
        length_s=SegmentSettings.from_config(snakemake.params.segments, "segments").length_s,
        checkpoint=str(snakemake.output.checkpoint),
        # Not a declared output, so that it survives a killed job.
        resume=f"{snakemake.output.checkpoint}.resume",
        log_tsv=str(snakemake.output.log_tsv),
    )
    summary = train_processes(
        job, n_processes, threads=max(1, snakemake.threads // n_processes), log_file=snakemake.log[0]
    )
    log.info("trained: %s", summary)
