"""CrossTask's video list (``task,video_id,url``, Zhukov et al. 2019) as a sources table: the
videos rule crosstask localises steps in, fetched with yt-dlp (rule crosstask_sources)."""

from __future__ import annotations

import csv
import os
from typing import Sequence

import pandas as pd

from groundprobe.ingest.manifest import VIDEO_ID

# Task and video ids name annotation files (<task>_<video>.csv): held to the rule for video ids.
ID_RULE = "ids name files, so they are letters, digits, _ - . only (not starting with '.')"


def read_video_list(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(task id, video id) of each row of a video list (``task,video_id,url``). Raises ValueError
    naming the row for one without a video id, or with a task or video id that cannot name a file
    (the rule for video ids)."""
    listed = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2 or not row[1].strip():
                raise ValueError(f"{path}, row {number}: {row}; a row is task,video_id,url")
            for what, value in (("task id", row[0].strip()), ("video id", row[1].strip())):
                if not VIDEO_ID.fullmatch(value):
                    raise ValueError(f"{path}, row {number}: {what} {value!r}: {ID_RULE}")
            listed.append((row[0].strip(), row[1].strip()))
    return listed


def sources_from_video_list(listed: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A sources table (video_id, source, source_type, split) fetching the listed videos with
    yt-dlp by their YouTube ids, each once, as validation videos."""
    ids = list(dict.fromkeys(video_id for _, video_id in listed))
    return pd.DataFrame({"video_id": ids, "source": ids, "source_type": "ytdlp", "split": "validation"})
