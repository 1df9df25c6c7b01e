"""groundprobe: how well speech in web videos is grounded in what they show (Hessel et al. 2020).

One subpackage per part of the pipeline; a rule's code is the module named like the rule (the
others are what it is built from):

- ``ingest``: yt8m_sources, howto100m (rule howto100m_sources), crosstask_sources, manifest,
  download (download_plan, ytdlp_download, input_fingerprints), qc, funnel
- ``captions``: asr (rules asr and vocab; caption_files, caption_words), caption_language, segments
- ``features``: extract (rules features_2d/3d; decode, parallel_decode, backbones, s3dg, weights),
  store (the feature store every later stage reads)
- ``model``: train (batches, distributed, joint_embedding)
- ``evaluation``: evaluate (auc), segment_auc, auc_by_video, auc_by_category, model_comparison,
  probe (retrieval, retrieval_metrics), crosstask
- ``analysis``: auc_by_vertical, context_effects, correlations, lexical_ols (lexical_captions,
  lexical_passes, ols), figures
- ``curation``: video_embeddings, curate (draws), curation_comparison (and rule domain_gap)
- ``demo``: corpus (rule demo_corpus; photos, scenes, narration, plans, auto_captions, render,
  crosstask_set, truth, howto100m), recovery (rule demo_recovery)

Shared by every stage: ``config`` (loading and validating config.yaml), ``settings`` (a typed,
frozen settings class per config block; ``settings_base``: result vs execution settings), ``io``
and ``device``.
"""

__version__ = "0.1.0"
