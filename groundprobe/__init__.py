"""groundprobe: how well speech in web videos is grounded in what they show (Hessel et al. 2020).

One subpackage per part of the pipeline; a rule's code is the module named like the rule:

- ``ingest``: sources tables (yt8m_sources, howto100m), manifest, download, qc, funnel
- ``captions``: asr (caption files to timed tokens, vocabulary), caption_language, segments
- ``features``: decode, the backbones and S3D-G, extraction (rules features_2d/3d), the feature store
- ``model``: the joint embedding and train (one process or several: distributed)
- ``evaluation``: evaluate, auc, segment_auc, auc_by_video, auc_by_category, probe, retrieval,
  model_comparison, crosstask
- ``analysis``: auc_by_vertical, context_effects, correlations, lexical_ols (with lexical_captions and
  ols), figures
- ``curation``: video_embeddings, curate, curation_comparison (and domain_gap)
- ``demo``: the demo corpus (rule demo_corpus), its instructional corpus, recovery (demo_recovery)

``config``, ``io`` and ``device`` are shared by every stage.
"""

__version__ = "0.1.0"
