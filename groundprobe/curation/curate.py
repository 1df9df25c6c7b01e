"""Data curation (CUPID, Zhou et al. 2021): select the SOURCE videos that resemble a TARGET domain.

Each video is a matrix of clip embeddings M (n_clips, D). CUPID scores source video i against
target video j by the mean over every (target clip, source clip) pair of their dot product:

    K[j, i] = mean(M_Tj @ M_Si.T) = (1 / (a b)) sum_p sum_q <t_p, s_q>
            = < (1/a) sum_p t_p , (1/b) sum_q s_q > = <mean_row(M_Tj), mean_row(M_Si)>

(a, b the two clip counts), because the dot product is bilinear. So a video is stored as its mean
clip embedding (:func:`video_mean`, shape (D,)), and K = T @ S.T for the stacked means T
(n_target, D) and S (n_source, D). At the paper's scale (1M source x 10K target videos) K has 10^10
entries and is never held whole: the source videos arrive in blocks of ``(ids, means)`` (any
iterable of them: :func:`source_blocks` slices one matrix, the workflow reads shards), and each
function keeps only per-block results.

Strategies (:data:`STRATEGIES`): ``random`` (a seeded uniform sample), ``heuristic`` (CUPID's HAP:
genre labels plus shared title words), ``avg_sim`` (highest mean similarity to the target videos)
and ``knn`` (a random draw from the pool of the target videos' nearest source videos). Every
selection is a table with :data:`SELECTION_COLUMNS`, rank 1 being the first selected; the
selections of several seeds (draws) are stacked into one table by
:func:`groundprobe.curation.draws.stack_draws`.
Matrix products run in float32 with torch on the given device.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from groundprobe.curation.draws import SELECTION_COLUMNS
from groundprobe.settings import CurationSettings

STRATEGIES = ("random", "heuristic", "avg_sim", "knn")

Blocks = Iterable[tuple[Sequence[str], np.ndarray]]

log = logging.getLogger(__name__)


def video_mean(clips: np.ndarray) -> np.ndarray:
    """The mean clip embedding of one video: (n_clips, D) -> (D,) float32.

    Summed in float64 so that an hour of clips loses no precision; raises ValueError for a video
    without clips, whose mean is undefined.
    """
    if clips.ndim != 2:
        raise ValueError(f"clip embeddings must be a (n_clips, D) matrix, got shape {clips.shape}")
    if len(clips) == 0:
        raise ValueError("a video without clips has no mean embedding")
    return clips.mean(axis=0, dtype=np.float64).astype(np.float32)


def source_blocks(ids: Sequence[str], means: np.ndarray, block_videos: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Consecutive blocks of at most ``block_videos`` source videos: (ids, means (b, D)) views."""
    if len(ids) != len(means):
        raise ValueError(f"{len(ids)} ids for {len(means)} mean embeddings")
    if block_videos < 1:
        raise ValueError(f"block_videos must be >= 1, got {block_videos}")
    for start in range(0, len(ids), block_videos):
        yield list(ids[start : start + block_videos]), means[start : start + block_videos]


def _on_device(matrix: np.ndarray, device: torch.device, dim: int | None = None) -> torch.Tensor:
    """A (n, D) float32 tensor on ``device``; ValueError when not 2-D or D differs from ``dim``."""
    if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise ValueError(f"expected a (n, {dim or 'D'}) matrix of mean embeddings, got {matrix.shape}")
    return torch.as_tensor(np.asarray(matrix, dtype=np.float32), device=device)


def _checked_blocks(blocks: Blocks) -> Iterator[tuple[Sequence[str], np.ndarray]]:
    """The non-empty blocks, each checked to hold one id per row."""
    for ids, means in blocks:
        if len(ids) != len(means):
            raise ValueError(f"a source block has {len(ids)} ids for {len(means)} mean embeddings")
        if len(ids):
            yield ids, means


def average_similarity(target_means: np.ndarray, blocks: Blocks, device: torch.device) -> tuple[list[str], np.ndarray]:
    """Per source video its mean similarity over the target videos, mean_j K[j, i].

    ``target_means`` is (n_target, D). Computed as S_block @ mean_j(T_j), exact by linearity and
    O(N D) instead of O(N n_target D). Returns the source ids in block order and the scores
    (n_source,) float64.
    """
    centre = _on_device(video_mean(target_means)[None], device)[0]
    ids: list[str] = []
    scores = []
    for block_ids, block in _checked_blocks(blocks):
        ids.extend(block_ids)
        scores.append((_on_device(block, device, len(centre)) @ centre).cpu().numpy())
    return ids, np.concatenate(scores or [np.empty(0)]).astype(np.float64)


def _tied_best_columns(scores: torch.Tensor, k: int) -> torch.Tensor:
    """:func:`_best_columns` for rows whose k-th largest value is tied: everything above the k-th
    value is kept, and the remaining places go to the lowest columns equal to it."""
    threshold = torch.topk(scores, k, dim=1).values[:, -1:]
    keep = scores > threshold
    missing = k - keep.sum(dim=1)
    # nonzero lists the tied entries row by row, columns ascending; number them within their row.
    rows, cols = torch.nonzero(scores == threshold, as_tuple=True)
    per_row = torch.bincount(rows, minlength=len(scores))
    first = torch.cumsum(per_row, 0) - per_row
    within = torch.arange(len(rows), device=scores.device) - first[rows]
    take = within < missing[rows]
    keep[rows[take], cols[take]] = True
    return torch.nonzero(keep, as_tuple=True)[1].view(len(scores), k)


def _best_columns(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Per row of ``scores`` (n, W) the columns of its k largest values, ties going to the lower
    column; (n, k) int64, ascending column order within a row.

    torch.topk settles ties at the k-th value arbitrarily, so a row whose (k+1)-th value equals its
    k-th is redone exactly; continuous similarities almost never tie, and the exact pass costs a
    few full passes over the row.
    """
    n, width = scores.shape
    if k >= width:
        return torch.arange(width, device=scores.device).expand(n, width)
    values, cols = torch.topk(scores, k + 1, dim=1)
    cols = cols[:, :k].clone()
    tied = torch.nonzero(values[:, k] == values[:, k - 1]).squeeze(1)
    if len(tied):
        cols[tied] = _tied_best_columns(scores[tied], k)
    return cols.sort(dim=1).values


def _neighbour_pass(
    target_means: np.ndarray, blocks: Blocks, k: int, device: torch.device
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nearest_sources` plus, per source video, its best similarity to any target video
    (max_j K[j, i], (n_source,) float32), which falls out of each block's scores at no extra pass."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    targets = _on_device(target_means, device)
    n_target, dim = targets.shape
    best_sims = torch.empty((n_target, 0), dtype=torch.float32, device=device)
    best_idx = torch.empty((n_target, 0), dtype=torch.int64, device=device)
    ids: list[str] = []
    best_per_source = []
    for block_ids, block in _checked_blocks(blocks):
        scores = targets @ _on_device(block, device, dim).T  # (n_target, b)
        best_per_source.append(scores.amax(dim=0).cpu().numpy())
        # Each block's own top k (ties to the lower index) holds every member of the global top k
        # that lies in the block, so merging those candidates into the running lists is exact.
        cols = _best_columns(scores, min(k, scores.shape[1]))
        sims = torch.cat([best_sims, scores.gather(1, cols)], dim=1)
        idx = torch.cat([best_idx, cols + len(ids)], dim=1)
        # Equal similarities sit in ascending source index within the concatenation (running
        # lists are sorted so and hold only earlier blocks), which a stable sort preserves.
        order = torch.sort(sims, dim=1, descending=True, stable=True).indices[:, :k]
        best_sims, best_idx = sims.gather(1, order), idx.gather(1, order)
        ids.extend(block_ids)
        del scores  # free this block's (n_target, b) scores before the next product
    best = np.concatenate(best_per_source or [np.empty(0, dtype=np.float32)])
    return ids, best_idx.cpu().numpy(), best_sims.cpu().numpy(), best


def nearest_sources(
    target_means: np.ndarray, blocks: Blocks, k: int, device: torch.device
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """For each target video its k most similar source videos by K[j, i], block by block.

    ``target_means`` is (n_target, D); each block is moved to ``device`` in turn and merged into
    running top-k lists, so peak memory is the target matrix, one block and (n_target, block)
    scores. k is capped at the number of source videos. Returns (source ids in block order,
    neighbour indices (n_target, k) int64 into those ids, similarities (n_target, k) float32), each
    row by descending similarity; equal similarities are ordered by ascending source index, which
    makes the lists deterministic whatever the block size.
    """
    ids, neighbours, similarities, _ = _neighbour_pass(target_means, blocks, k, device)
    return ids, neighbours, similarities


def knn_pool(neighbours: np.ndarray, similarities: np.ndarray, pool_size: int) -> np.ndarray:
    """The first ``pool_size`` distinct source indices of the neighbour lists in rank-major order.

    Every target's rank-1 neighbour comes first (higher similarity first, then lower source index),
    then every rank-2 neighbour, and so on; a source already taken is skipped. ``neighbours`` and
    ``similarities`` are (n_target, k) as :func:`nearest_sources` returns them. Returns at most
    ``pool_size`` indices (int64), fewer when the lists hold fewer distinct ones.
    """
    if neighbours.shape != similarities.shape:
        raise ValueError(f"neighbours {neighbours.shape} and similarities {similarities.shape} differ")
    rank = np.broadcast_to(np.arange(neighbours.shape[1]), neighbours.shape).ravel()
    flat = neighbours.ravel().astype(np.int64)
    # lexsort sorts by its last key first: rank, then descending similarity, then source index.
    ordered = flat[np.lexsort((flat, -similarities.ravel(), rank))]
    _, first_seen = np.unique(ordered, return_index=True)
    return ordered[np.sort(first_seen)][: max(pool_size, 0)]


def _selection(ids: Sequence[str], scores: np.ndarray) -> pd.DataFrame:
    """A selection table of ``ids`` in selection order with their scores; rank 1 = first."""
    return pd.DataFrame(
        {
            "video_id": pd.Series(list(ids), dtype=str),
            "score": np.asarray(scores, dtype=np.float64),
            "rank": np.arange(1, len(ids) + 1, dtype=np.int64),
        },
        columns=SELECTION_COLUMNS,
    )


def _check_budget(budget: int) -> None:
    """ValueError unless ``budget`` is a count of at least one video (see :func:`parse_budget`)."""
    if budget < 1:
        raise ValueError(f"budget must be >= 1 videos, got {budget}")


def knn_select(
    target_means: np.ndarray,
    blocks_factory: Callable[[], Blocks],
    budget: int,
    pool_factor: float,
    seed: int,
    device: torch.device,
) -> pd.DataFrame:
    """CUPID's k-NN selection: ``budget`` source videos drawn uniformly from the neighbour pool
    with ``seed`` (one draw of :func:`knn_draws`)."""
    return knn_draws(target_means, blocks_factory, budget, pool_factor, [seed], device)[0]


def knn_draws(
    target_means: np.ndarray,
    blocks_factory: Callable[[], Blocks],
    budget: int,
    pool_factor: float,
    seeds: Sequence[int],
    device: torch.device,
) -> list[pd.DataFrame]:
    """CUPID's k-NN selection, one draw per seed from one neighbour pool (searched once).

    The pool is the first pool_size = min(n_source, ceil(pool_factor * budget)) distinct sources of
    the rank-major neighbour lists (:func:`knn_pool`). k starts at ceil(pool_size / n_target) and
    doubles, with a new pass over ``blocks_factory()``, while target videos share so many
    neighbours that the pool stays short and k < n_source; a pool as large as the source is the
    whole source, without growing k. n_source is only known after the first
    pass, so that pass uses the uncapped pool size; the pool itself does not depend on k, since
    longer lists only extend the rank-major order. A draw is ``np.random.default_rng(seed)``
    without replacement (the whole pool when smaller than ``budget``); score is each video's best
    similarity to any target video, rank the order of the draw.
    """
    _check_budget(budget)
    if not pool_factor > 0:
        raise ValueError(f"pool_factor must be > 0, got {pool_factor}")
    if len(target_means) == 0:
        raise ValueError("k-NN selection needs at least one target video")
    wanted = math.ceil(pool_factor * budget)
    k = math.ceil(wanted / len(target_means))
    while True:
        ids, neighbours, similarities, best = _neighbour_pass(target_means, blocks_factory(), k, device)
        pool_size = min(len(ids), wanted)
        if pool_size == len(ids):  # the pool is every source: no longer lists needed
            pool = np.arange(len(ids))
            break
        pool = knn_pool(neighbours, similarities, pool_size)
        k = neighbours.shape[1]  # capped at n_source
        if len(pool) >= pool_size or k >= len(ids):
            break
        k *= 2
    log.info(
        "knn: final k=%d, pool of %d distinct source videos (wanted %d) from %d", k, len(pool), pool_size, len(ids)
    )
    draws = [pool[np.random.default_rng(seed).permutation(len(pool))[:budget]] for seed in seeds]
    return [_selection([ids[i] for i in drawn], best[drawn]) for drawn in draws]


def avg_sim_select(target_means: np.ndarray, blocks: Blocks, budget: int, device: torch.device) -> pd.DataFrame:
    """The ``budget`` source videos of highest :func:`average_similarity` (equal scores: earlier in
    block order first); score = average similarity, rank 1 = highest."""
    _check_budget(budget)
    ids, scores = average_similarity(target_means, blocks, device)
    top = np.argsort(-scores, kind="stable")[:budget]
    return _selection([ids[i] for i in top], scores[top])


def random_select(source_ids: Sequence[str], budget: int, seed: int) -> pd.DataFrame:
    """A uniform sample of ``budget`` source videos without replacement (all when fewer).

    The ids are sorted before ``np.random.default_rng(seed).permutation`` so that the sample
    depends on the seed and the id set, not on the order the ids came in. Score is 0.0 (no
    similarity is involved); rank is the draw order.
    """
    _check_budget(budget)
    ids = sorted(map(str, source_ids))
    drawn = np.random.default_rng(seed).permutation(len(ids))[:budget]
    return _selection([ids[i] for i in drawn], np.zeros(len(drawn)))


_WORD = re.compile(r"[a-z0-9]+")


def title_words(text: str) -> set[str]:
    """Lower-cased alphanumeric words of ``text`` without English stop words (scikit-learn's list)
    and without one-character words, which carry no topic."""
    return {word for word in _WORD.findall(text.lower()) if len(word) > 1 and word not in ENGLISH_STOP_WORDS}


def _text(column: pd.Series) -> pd.Series:
    """A metadata column as text: read_table gives NaN for an empty cell (no labels, title or
    caption) and numbers for an all-numeric column."""
    return column.fillna("").astype(str)


def _labels(cell: str) -> list[str]:
    """Label names of a ';'-separated labels cell ('' -> none)."""
    return [label.strip() for label in cell.split(";") if label.strip()]


def heuristic_select(
    source: pd.DataFrame, target: pd.DataFrame, genres: Mapping[str, str], target_genre: str, budget: int, seed: int
) -> pd.DataFrame:
    """CUPID's heuristic selection (HAP) from video metadata.

    ``source`` has columns video_id, labels (';'-separated names), title and caption_kind
    ('manual', 'auto' or ''); ``target`` has title and labels. HAP's two criteria: one of the
    video's labels maps through ``genres`` to ``target_genre``, and its :func:`title_words` share
    at least one word with the target vocabulary (the title words of every target title and of
    every target label name). Videos meeting both (HAP's candidates) come first, then those meeting
    one, then the rest, so that the selection fills the budget like every other strategy; within
    a tier manual captions first, then more shared words, then a random order from
    ``np.random.default_rng(seed)`` (drawn over the videos sorted by id, so input row order does
    not matter). score = the number of criteria met (0-2), rank 1 = first.
    """
    _check_budget(budget)
    vocabulary = set().union(
        *map(title_words, _text(target["title"])),
        *(title_words(label) for cell in _text(target["labels"]) for label in _labels(cell)),
    )
    in_genre = (
        _text(source["labels"])
        .map(lambda cell: any(genres.get(label) == target_genre for label in _labels(cell)))
        .astype(bool)
    )
    shared = _text(source["title"]).map(lambda title: len(title_words(title) & vocabulary))
    videos = pd.DataFrame(
        {
            "video_id": source["video_id"].astype(str),
            "shared": shared,
            "criteria": in_genre.astype(int) + (shared > 0).astype(int),
            "manual": _text(source["caption_kind"]) == "manual",
        }
    )
    tiers = videos["criteria"].value_counts()
    log.info(
        "heuristic: %d candidates meet both criteria, %d one, %d none; budget %d",
        tiers.get(2, 0),
        tiers.get(1, 0),
        tiers.get(0, 0),
        budget,
    )
    filled = min(budget, len(videos)) - tiers.get(2, 0)
    if filled > 0:
        log.warning(
            "heuristic: fewer candidates than the budget; %d videos meeting fewer criteria fill it (score < 2)", filled
        )
    videos = videos.sort_values("video_id", kind="stable")
    videos["draw"] = np.random.default_rng(seed).permutation(len(videos))
    ranked = videos.sort_values(["criteria", "manual", "shared", "draw"], ascending=[False, False, False, True]).head(
        budget
    )
    return _selection(ranked["video_id"].tolist(), ranked["criteria"].to_numpy(dtype=float))


def curated_draws(
    strategy: str,
    pool: Sequence[str],
    source_blocks: Callable[[], Blocks],
    target_means: np.ndarray | None,
    source: pd.DataFrame,
    target: pd.DataFrame,
    budget: int,
    seeds: Sequence[int],
    settings: CurationSettings,
    device: torch.device,
) -> list[pd.DataFrame]:
    """One selection of ``budget`` videos per seed by ``strategy`` (:data:`STRATEGIES`).

    ``pool``: the source video ids every strategy picks from; ``source_blocks``: a fresh pass over
    their ``(ids, means)`` blocks; ``target_means`` (n_target, D): the target videos' mean clip
    embeddings (avg_sim and knn); ``source``/``target``: the pool's and the target's manifest rows
    (title, labels, caption_kind: heuristic); ``settings``: the curation settings (heuristic.genres,
    heuristic.target_genre, knn_pool_factor).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown curation strategy {strategy!r}; one of {STRATEGIES}")
    if strategy in ("avg_sim", "knn") and target_means is None:
        raise ValueError(f"strategy {strategy} needs the target videos' mean clip embeddings")
    if strategy == "random":
        return [random_select(pool, budget, seed) for seed in seeds]
    if strategy == "heuristic":
        return [
            heuristic_select(source, target, settings.heuristic.genres, settings.heuristic.target_genre, budget, seed)
            for seed in seeds
        ]
    if strategy == "avg_sim":  # no random element: every draw is the same
        return [avg_sim_select(target_means, source_blocks(), budget, device)] * len(seeds)
    return knn_draws(target_means, source_blocks, budget, settings.knn_pool_factor, seeds, device)
