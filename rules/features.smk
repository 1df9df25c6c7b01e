rule features_2d:
    input:
        download=block_shard_files("results/download/{shard}.tsv"),
        weights=weights_input("2d"),
    output:
        # {shard}.h5 per shard
        h5=directory("results/features/2d/{block}"),
        qc="results/qc/features_2d/{block}.tsv",
    log:
        "results/logs/features_2d/{block}.log",
    benchmark:
        "results/benchmarks/features_2d/{block}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["features"]["threads"]
    resources:
        **job_resources(
            "features_2d",
            config["features"]["threads"],
            config["features"]["device"],
            shards=SHARDS_PER_BLOCK,
        ),
    params:
        stream="2d",
        # Only this stream's result settings, so that changing the other stream, another
        # backbone's setting or an execution setting (threads, device, batch size, decoding;
        # groundprobe.config) reruns nothing.
        features=features_params(config["features"], "2d"),
        # The local video files' content: editing one reruns this block (a touch does not).
        videos=local_input_fingerprint("videos"),
    script:
        "../workflow_scripts/features.py"


use rule features_2d as features_3d with:
    input:
        download=block_shard_files("results/download/{shard}.tsv"),
        weights=weights_input("3d"),
    output:
        # {shard}.h5 per shard
        h5=directory("results/features/3d/{block}"),
        qc="results/qc/features_3d/{block}.tsv",
    log:
        "results/logs/features_3d/{block}.log",
    benchmark:
        "results/benchmarks/features_3d/{block}.tsv"
    resources:
        **job_resources(
            "features_3d",
            config["features"]["threads"],
            config["features"]["device"],
            shards=SHARDS_PER_BLOCK,
        ),
    params:
        stream="3d",
        features=features_params(config["features"], "3d"),
        videos=local_input_fingerprint("videos"),
