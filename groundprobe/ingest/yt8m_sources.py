"""YouTube-8M corpus construction: video ids with label indices -> the pipeline's sources table.

The paper's corpus ("YouTube-600K") is YouTube-8M with English ASR, keeping YouTube-8M's own
train/validation split. The input is an id list file (CSV or TSV) with one row per video:

- ``video_id``: the YouTube id (11 characters; YouTube-8M's 4-character pseudo ids must first be
  resolved to YouTube ids, see docs/ytdlp.md);
- ``labels``: label indices of the YouTube-8M vocabulary, separated by spaces, commas or ';';
- ``split``: ``train``, ``validate`` (YouTube-8M's name) or ``validation``.

Labels become names and verticals (``Vertical1``) through the shipped vocabulary. A second, optional
file (``video_id``, ``instructional`` in {0, 1}) carries the human "is it instructional" labels of a
validation sample.
"""

from __future__ import annotations

import re

import pandas as pd

from groundprobe.ingest.manifest import YOUTUBE_ID, ManifestError, load_yt8m_vocabulary

SPLIT_NAMES = {"train": "train", "validate": "validation", "validation": "validation"}
LABEL_SEPARATOR = re.compile(r"[\s,;]+")


def label_index_names(vocabulary: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """Label index -> (name, vertical). Some vocabulary rows have no name: their Knowledge Graph id
    stands in, so that every label keeps a distinct, traceable name."""
    names = vocabulary["Name"].where(vocabulary["Name"] != "", vocabulary["KnowledgeGraphId"])
    return {int(i): (name, vertical) for i, name, vertical in zip(vocabulary["Index"], names, vocabulary["Vertical1"])}


def parse_label_indices(text: str) -> list[int]:
    """Label indices of one row ('3 17 52', '3;17', '3,17'); ValueError on anything not an integer."""
    return [int(token) for token in LABEL_SEPARATOR.split(str(text).strip()) if token]


def _first_ids(ids: pd.Series, limit: int = 5) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids.astype(str).head(limit)) + more


def read_id_list(ids: pd.DataFrame, vocabulary: pd.DataFrame) -> pd.DataFrame:
    """Validate an id list table and resolve its labels.

    Returns columns ``video_id, label_indices (list[int]), labels, verticals, split`` with labels and
    verticals ';'-joined in the order of the indices. Raises :class:`ManifestError` naming the
    offending ids: missing columns, malformed or duplicate ids, unknown splits or label indices.
    """
    missing = [c for c in ("video_id", "labels", "split") if c not in ids.columns]
    if missing:
        raise ManifestError(f"YouTube-8M id list lacks column(s): {', '.join(missing)}")
    df = ids[["video_id", "labels", "split"]].astype(str).apply(lambda c: c.str.strip())
    problems = []
    bad_id = ~df["video_id"].str.fullmatch(YOUTUBE_ID)
    if bad_id.any():
        problems.append(f"not an 11-character YouTube id: {_first_ids(df.loc[bad_id, 'video_id'])}")
    duplicated = df["video_id"].duplicated(keep=False)
    if duplicated.any():
        problems.append(f"duplicate video_id: {_first_ids(df.loc[duplicated, 'video_id'].drop_duplicates())}")
    bad_split = ~df["split"].isin(SPLIT_NAMES)
    if bad_split.any():
        problems.append(f"split must be one of {', '.join(SPLIT_NAMES)}: {_first_ids(df.loc[bad_split, 'video_id'])}")
    known = label_index_names(vocabulary)
    indices, bad_labels = [], []
    for video_id, text in zip(df["video_id"], df["labels"]):
        try:
            row = parse_label_indices(text)
        except ValueError:
            row = [-1]
        if not row or any(i not in known for i in row):
            bad_labels.append(video_id)
        indices.append(row)
    if bad_labels:
        problems.append(
            f"labels must be YouTube-8M vocabulary indices 0..{max(known)}: {_first_ids(pd.Series(bad_labels))}"
        )
    if problems:
        raise ManifestError("YouTube-8M id list has invalid rows:\n  " + "\n  ".join(problems))
    return pd.DataFrame(
        {
            "video_id": df["video_id"],
            "label_indices": indices,
            "labels": [";".join(known[i][0] for i in row) for row in indices],
            "verticals": [";".join(known[i][1] for i in row) for row in indices],
            "split": df["split"].map(SPLIT_NAMES),
        }
    ).reset_index(drop=True)


def attach_instructional_labels(sources: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Fill ``instructional`` (1, 0 or empty) from a ``video_id, instructional`` table.

    The paper's labels cover a validation sample only, so a labelled training video is an error, as
    is a label for an id that is not in the corpus or a value other than 0/1.
    """
    missing = [c for c in ("video_id", "instructional") if c not in labels.columns]
    if missing:
        raise ManifestError(f"instructional labels file lacks column(s): {', '.join(missing)}")
    values = labels.assign(
        video_id=labels["video_id"].astype(str),
        instructional=labels["instructional"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True),
    )
    split_of = dict(zip(sources["video_id"], sources["split"]))
    checks = [
        (~values["instructional"].isin(["0", "1"]), "instructional must be 0 or 1"),
        (~values["video_id"].isin(split_of), "not in the id list"),
        (values["video_id"].map(split_of) == "train", "labelled but in the train split"),
        (values["video_id"].duplicated(keep=False), "labelled twice"),
    ]
    problems = [f"{why}: {_first_ids(values.loc[mask, 'video_id'])}" for mask, why in checks if mask.any()]
    if problems:
        raise ManifestError("instructional labels file has invalid rows:\n  " + "\n  ".join(problems))
    label_of = dict(zip(values["video_id"], values["instructional"]))
    return sources.assign(instructional=sources["video_id"].map(label_of).fillna(""))


def yt8m_sources(
    ids: pd.DataFrame, instructional: pd.DataFrame | None = None, vocabulary: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The sources table of a YouTube-8M id list: one ``ytdlp`` row per video, captions from the
    download stage, labels and verticals from the vocabulary, split kept, optional instructional
    labels."""
    vocab = load_yt8m_vocabulary() if vocabulary is None else vocabulary
    videos = read_id_list(ids, vocab)
    sources = pd.DataFrame(
        {
            "video_id": videos["video_id"],
            "source": videos["video_id"],
            "source_type": "ytdlp",
            "captions": "",
            "caption_kind": "auto",
            "title": "",
            "labels": videos["labels"],
            "verticals": videos["verticals"],
            "split": videos["split"],
            "instructional": "",
        }
    )
    if instructional is not None:
        sources = attach_instructional_labels(sources, instructional)
    return sources
