"""Zero-shot text-to-video retrieval on held-out videos, the probe of CUPID (Zhou et al. 2021).

Every kept (clip, caption) pair is one item: its caption is a query, the clips of all items are
the gallery, and the query's own clip is the one correct answer. Ranks are tie-safe: a gallery
clip that scores exactly as high as the correct one neither pushes it down nor lifts it up.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import torch

from groundprobe.evaluation.retrieval_metrics import retrieval_metrics, retrieval_ranks
from groundprobe.model.joint_embedding import JointEmbedding
from groundprobe.model.batches import SecondsSource, clip_windows, pad_token_ids, parse_captions, segment_length

RANK_COLUMNS = ["video_id", "segment", "rank", "ties"]


def retrieval_items(segments: pd.DataFrame, clips_per_video: int | None, seed: int = 0) -> pd.DataFrame:
    """The segments that become retrieval items: non-overlapping ones, at most ``clips_per_video``
    per video (None: no cap).

    Segments are random windows that may overlap, and a near-duplicate of the correct clip in the
    gallery would make its query ill-posed. So per video, in order of (start_s, segment), a segment
    is kept when it starts at or after the end of the last kept one. Of a video's kept segments,
    ``clips_per_video`` are drawn at random (seeded by ``seed`` and the video id, so a video's items
    do not depend on the other videos): the first ones would all come from the video's opening.
    Returns the kept rows with all their columns, sorted by video_id then start_s, index 0..n-1.
    """
    if clips_per_video is not None and clips_per_video < 1:
        raise ValueError(f"clips_per_video must be at least 1 or None, got {clips_per_video}")
    ordered = segments.sort_values(["video_id", "start_s", "segment"], kind="stable").reset_index(drop=True)
    kept: list[int] = []
    for video_id, rows in ordered.groupby("video_id", sort=False):
        last_end, disjoint = -np.inf, []
        for row, start, end in zip(rows.index, rows["start_s"], rows["end_s"]):
            if start >= last_end:
                disjoint.append(row)
                last_end = end
        if clips_per_video is not None and len(disjoint) > clips_per_video:
            rng = np.random.default_rng([seed, zlib.crc32(str(video_id).encode())])
            disjoint = sorted(rng.choice(disjoint, size=clips_per_video, replace=False).tolist())
        kept += disjoint
    return ordered.loc[kept].reset_index(drop=True)


def embed_items(
    model: JointEmbedding, items: pd.DataFrame, source: SecondsSource, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit embeddings of the items' clips and captions: two float32 CPU tensors (n_items, E),
    row i belonging to items row i.

    Clips are embedded one video at a time, so each video's features are loaded once; captions in
    batches of ``batch_size``. The model is switched to eval mode and run without gradients on the
    device its weights are on.
    """
    length_s = segment_length(items)
    vocab_size = model.word_embedding.num_embeddings - 1
    device = next(model.parameters()).device
    captions: list[np.ndarray | None] = [None] * len(items)
    model.eval()
    with torch.inference_mode():
        clips = torch.empty((len(items), model.clip_unit.gate.out_features), dtype=torch.float32)
        for video_id, positions in items.groupby("video_id", sort=False).indices.items():
            rows = items.iloc[positions]
            seconds = np.asarray(source.seconds(str(video_id)), dtype=np.float32)
            starts = rows["start_s"].to_numpy(dtype=np.int64)
            windows = clip_windows(str(video_id), seconds, starts, length_s)
            clips[positions] = model.embed_clips(torch.from_numpy(windows).to(device)).float().cpu()
            parsed = parse_captions(str(video_id), rows["token_ids"].tolist(), vocab_size)
            for position, ids in zip(positions, parsed):
                captions[position] = ids
        texts = torch.empty_like(clips)
        for start in range(0, len(items), batch_size):
            tokens = torch.from_numpy(pad_token_ids(captions[start : start + batch_size])).to(device)
            texts[start : start + batch_size] = model.embed_captions(tokens).float().cpu()
    return clips, texts


def sample_items(items: pd.DataFrame, max_items: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_items`` of the items, drawn uniformly with ``np.random.default_rng(seed)`` and
    kept in their order (all of them when None or when there are fewer). R@K depends on the
    gallery's size, so corpora are compared on galleries of one size."""
    if max_items is None or len(items) <= max_items:
        return items
    kept = np.sort(np.random.default_rng(seed).choice(len(items), size=max_items, replace=False))
    return items.iloc[kept].reset_index(drop=True)


def retrieve(
    model: JointEmbedding,
    segments: pd.DataFrame,
    source: SecondsSource,
    clips_per_video: int | None,
    query_block: int = 4096,
    max_items: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Text-to-video retrieval over the items of ``segments`` (see :func:`retrieval_items`), at
    most ``max_items`` of them (:func:`sample_items`).

    Similarities are computed ``query_block`` queries at a time against the whole gallery, so
    memory grows as query_block x n_items rather than n_items². Returns the per-query table
    (RANK_COLUMNS, one row per item, in item order) and :func:`retrieval_metrics` of its ranks.
    """
    if query_block < 1:
        raise ValueError(f"query_block must be at least 1, got {query_block}")
    items = sample_items(retrieval_items(segments, clips_per_video, seed), max_items, seed)
    if len(items) < 2:
        raise ValueError(
            f"retrieval needs at least 2 candidate clips, found {len(items)} "
            f"non-overlapping segment(s) in {segments['video_id'].nunique()} video(s)"
        )
    clips, captions = embed_items(model, items, source)
    blocks = [
        retrieval_ranks(model.similarity(clips, captions[start : start + query_block]).T.numpy(), first_query=start)
        for start in range(0, len(items), query_block)
    ]
    ranks = np.concatenate([block_ranks for block_ranks, _ in blocks])
    ties = np.concatenate([block_ties for _, block_ties in blocks])
    table = items[["video_id", "segment"]].assign(rank=ranks, ties=ties)
    return table, retrieval_metrics(ranks, ties)
