"""The curation comparison (CUPID's Fig. 3): the target probes of every (strategy, budget), averaged
over the models pre-trained with different seeds, beside the model trained on the whole source, and
the domain-gap probe of that baseline."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from matplotlib.ticker import ScalarFormatter

from groundprobe.curation.draws import drawn_videos
from groundprobe.analysis.figures import plt, save_figure
from groundprobe.evaluation.probe import PROBE_COLUMNS

BASELINE = "baseline"  # the strategy name of the model trained on every source training video
GAP_METRICS = ["r1", "r5", "r10", "median_rank", "mean_rank", "mean_auc"]
# Probe columns that are the same for every seed of one (strategy, budget); the others are averaged
# (training_videos too: draws may differ in how many of their videos have 2 segments to train on).
FIXED_COLUMNS = ["training_steps", "n_queries", "auc_videos"]
MEAN_COLUMNS = [c for c in PROBE_COLUMNS if c not in ("model", "corpus", *FIXED_COLUMNS)]
SPREAD_COLUMNS = [f"{metric}_sd" for metric in ("r1", "r5", "r10", "median_rank", "mean_auc")]
COMPARISON_COLUMNS = [
    "strategy",
    "budget",
    "selected_videos",
    "seeds",
    *FIXED_COLUMNS,
    *MEAN_COLUMNS,
    *SPREAD_COLUMNS,
    "models",
]
METRIC_LABELS = {"r1": "R@1", "r5": "R@5", "r10": "R@10", "median_rank": "median rank"}


def seed_summary(probes: pd.DataFrame) -> dict:
    """The probe rows (PROBE_COLUMNS) of the models of one selection, trained with different seeds,
    as one row: FIXED_COLUMNS of the first, the mean of MEAN_COLUMNS, the sample standard deviation
    of the main metrics (SPREAD_COLUMNS; NaN with one seed), ``seeds`` (how many) and ``models``
    (their names, joined by ';')."""
    spread = {
        f"{metric}_sd": float(probes[metric].std(ddof=1)) if len(probes) > 1 else np.nan
        for metric in (column.removesuffix("_sd") for column in SPREAD_COLUMNS)
    }
    return (
        {column: probes[column].iloc[0] for column in FIXED_COLUMNS}
        | {column: float(probes[column].mean()) for column in MEAN_COLUMNS}
        | spread
        | {"seeds": len(probes), "models": ";".join(probes["model"])}
    )


def comparison_table(
    curated: list[tuple[str, str, pd.DataFrame, list[pd.DataFrame]]], baseline: pd.DataFrame
) -> pd.DataFrame:
    """One row per (strategy, budget), then the baseline (COMPARISON_COLUMNS).

    ``curated``: (strategy, budget as configured, its selection table (one draw per seed, as
    written by :func:`groundprobe.curation.draws.stack_draws`), the target probe rows of the models
    pre-trained on the draws, one per seed; see :func:`seed_summary`); ``baseline``: the
    target probe row of the model trained on the whole source (strategy ``baseline``, budget 100%,
    selected videos = the videos it trained on).
    """
    rows = []
    for strategy, budget, selection, probes in curated:
        draws = sorted(set(selection["draw"].tolist()))
        if draws != list(range(len(probes))):
            raise ValueError(
                f"{strategy} {budget}: {len(probes)} models but draws {draws} in the selection; rerun rule curate"
            )
        rows.append(
            seed_summary(pd.concat(probes, ignore_index=True))
            | {"strategy": strategy, "budget": budget, "selected_videos": len(drawn_videos(selection, 0))}
        )
    base = seed_summary(baseline)
    rows.append(base | {"strategy": BASELINE, "budget": "100%", "selected_videos": base["training_videos"]})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def domain_gap_table(source: pd.DataFrame, target: pd.DataFrame) -> pd.DataFrame:
    """The baseline's probes on the source's and the target's validation videos, one row each,
    then the target minus the source (PROBE_COLUMNS; the difference row has corpus
    ``target - source`` and only GAP_METRICS filled)."""
    table = pd.concat([source, target], ignore_index=True)
    difference = {
        "model": table["model"].iloc[0],
        "corpus": "target - source",
        **{c: target[c].iloc[0] - source[c].iloc[0] for c in GAP_METRICS},
    }
    table = pd.concat([table, pd.DataFrame([difference])], ignore_index=True)[PROBE_COLUMNS]
    counts = [
        "training_videos",
        "training_steps",
        "training_batch_videos",
        "n_queries",
        "queries_with_ties",
        "auc_videos",
    ]
    return table.astype({column: "Int64" for column in counts})


def plot_comparison(table: pd.DataFrame, metric: str, png: str | os.PathLike, svg: str | os.PathLike) -> None:
    """Target ``metric`` (the mean over seeds, bars of one standard deviation when there are
    several) against the number of selected source videos, one line per strategy, the
    whole-source baseline as a dashed line (the paper's Fig. 3)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    curated = table[table["strategy"] != BASELINE]
    # Distinct markers: two strategies may select the same videos and draw on top of each other.
    for (strategy, rows), marker in zip(curated.groupby("strategy", sort=True), "osD^v<>"):
        rows = rows.sort_values("selected_videos")
        ax.errorbar(
            rows["selected_videos"],
            rows[metric],
            yerr=rows[f"{metric}_sd"].fillna(0),
            marker=marker,
            fillstyle="none",
            capsize=3,
            label=strategy,
        )
    base = table[table["strategy"] == BASELINE].iloc[0]
    ax.axhline(
        base[metric], color="grey", linestyle="--", label=f"whole source ({int(base['selected_videos'])} videos)"
    )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("selected source videos (log scale)")
    label = METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(label if metric == "median_rank" else f"{label} (share of queries)")
    seeds = int(curated["seeds"].max()) if len(curated) else 1
    ax.set_title(
        f"Zero-shot text-to-video retrieval on the target: {label} vs budget"
        + (f"\n(mean of {seeds} seeds, bars: 1 standard deviation)" if seeds > 1 else "")
    )
    if metric != "median_rank":
        top = table[metric] + table[f"{metric}_sd"].fillna(0)
        ax.set_ylim(0, max(1e-3, float(np.nanmax(top))) * 1.1)
    ax.legend(title="curation strategy", loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    save_figure(fig, png, svg)
