"""The curation table (rule curate's output): the selections of several draws stacked into one
table, and the videos of one draw (what a curated model trains on). No torch: the tables built
from it (curation_comparison, domain_gap) run in the analysis environment."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

SELECTION_COLUMNS = ["video_id", "score", "rank"]
DRAW_COLUMNS = ["draw", *SELECTION_COLUMNS]


def stack_draws(selections: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The selections of draws 0, 1, … (each drawn with its own seed) as one table with
    DRAW_COLUMNS, draw by draw."""
    if not selections:
        raise ValueError("no draws to stack")
    return pd.concat([selection.assign(draw=draw) for draw, selection in enumerate(selections)], ignore_index=True)[
        DRAW_COLUMNS
    ]


def drawn_videos(table: pd.DataFrame, draw: int) -> list[str]:
    """The video ids of one draw of a :func:`stack_draws` table, in selection order."""
    ids = table.loc[table["draw"] == draw].sort_values("rank")["video_id"]
    if ids.empty:
        raise ValueError(
            f"the selection has no draw {draw} (it has draws "
            f"{sorted(set(table['draw'].tolist()))}); raise curation.seeds or rerun rule curate"
        )
    return ids.astype(str).tolist()
