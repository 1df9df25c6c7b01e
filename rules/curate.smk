# CUPID curation (Zhou et al. 2021): every video as its mean clip embedding, then the selections of
# source training videos per (strategy, budget) in config curation, one draw per seed.


rule video_embeddings:
    input:
        unpack(video_embedding_inputs),
    output:
        # {shard}.npz per shard
        npz=directory("results/curation/embeddings/{block}"),
        qc="results/qc/video_embeddings/{block}.tsv",
    log:
        "results/logs/video_embeddings/{block}.log",
    benchmark:
        "results/benchmarks/video_embeddings/{block}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources(
            "video_embeddings",
            config["train"]["threads"],
            config["curation"]["device"],
            shards=SHARDS_PER_BLOCK,
        ),
    params:
        curation=curation_params("clips", "window_s", "embedding", "streams"),
    script:
        "../workflow_scripts/video_embeddings.py"


rule curate:
    input:
        source=per_block("results/curation/embeddings/{block}"),
        target=per_block("results/curation/embeddings/{block}", TARGET_CORPUS),
        manifest="results/manifest.tsv",
    output:
        tsv=report(
            "results/curation/{strategy}_{budget}.tsv",
            caption="../report/curation.rst",
            category="6. Curation",
            subcategory="{strategy}",
        ),
    log:
        "results/logs/curate/{strategy}_{budget}.log",
    benchmark:
        "results/benchmarks/curate/{strategy}_{budget}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        **job_resources("curate", config["train"]["threads"], config["curation"]["device"]),
    params:
        budget=lambda wildcards: CURATION_BUDGETS[wildcards.budget],
        curation=curation_params("knn_pool_factor", "heuristic", "seed", "seeds"),
    script:
        "../workflow_scripts/curate.py"
