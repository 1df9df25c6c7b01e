"""The curation comparison (CUPID's Fig. 3): the target probes of every (strategy, budget) model
beside the model trained on the whole source, and the domain-gap probe of that baseline."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from matplotlib.ticker import ScalarFormatter

from groundprobe.figures import plt, save_figure
from groundprobe.probe import PROBE_COLUMNS

BASELINE = "baseline"   # the strategy name of the model trained on every source training video
COMPARISON_COLUMNS = ["strategy", "budget", "selected_videos",
                      *[c for c in PROBE_COLUMNS if c not in ("model", "corpus")], "model"]
GAP_METRICS = ["r1", "r5", "r10", "median_rank", "mean_rank", "mean_auc"]
METRIC_LABELS = {"r1": "R@1", "r5": "R@5", "r10": "R@10", "median_rank": "median rank"}


def comparison_table(curated: list[tuple[str, str, pd.DataFrame, pd.DataFrame]],
                     baseline: pd.DataFrame) -> pd.DataFrame:
    """One row per curated model, then the baseline (COMPARISON_COLUMNS).

    ``curated``: (strategy, budget as configured, its selection table, its target probe row);
    ``baseline``: the target probe row of the model trained on the whole source (strategy
    ``baseline``, budget 100%, selected videos = the videos it trained on).
    """
    rows = [probe.iloc[0].to_dict() | {"strategy": strategy, "budget": budget,
                                       "selected_videos": len(selection)}
            for strategy, budget, selection, probe in curated]
    base = baseline.iloc[0].to_dict()
    rows.append(base | {"strategy": BASELINE, "budget": "100%",
                        "selected_videos": base["training_videos"]})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def domain_gap_table(source: pd.DataFrame, target: pd.DataFrame) -> pd.DataFrame:
    """The baseline's probes on the source's and the target's validation videos, one row each,
    then the target minus the source (PROBE_COLUMNS; the difference row has corpus
    ``target - source`` and only GAP_METRICS filled)."""
    table = pd.concat([source, target], ignore_index=True)
    difference = {"model": table["model"].iloc[0], "corpus": "target - source",
                  **{c: target[c].iloc[0] - source[c].iloc[0] for c in GAP_METRICS}}
    table = pd.concat([table, pd.DataFrame([difference])], ignore_index=True)[PROBE_COLUMNS]
    counts = ["training_videos", "training_steps", "training_batch_videos", "n_queries",
              "queries_with_ties", "auc_videos"]
    return table.astype({column: "Int64" for column in counts})


def plot_comparison(table: pd.DataFrame, metric: str, png: str | os.PathLike,
                    svg: str | os.PathLike) -> None:
    """Target ``metric`` against the number of selected source videos, one line per strategy,
    the whole-source baseline as a dashed line (the paper's Fig. 3)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    curated = table[table["strategy"] != BASELINE]
    # Distinct markers: two strategies may select the same videos and draw on top of each other.
    for (strategy, rows), marker in zip(curated.groupby("strategy", sort=True), "osD^v<>"):
        rows = rows.sort_values("selected_videos")
        ax.plot(rows["selected_videos"], rows[metric], marker=marker, fillstyle="none", label=strategy)
    base = table[table["strategy"] == BASELINE].iloc[0]
    ax.axhline(base[metric], color="grey", linestyle="--",
               label=f"whole source ({int(base['selected_videos'])} videos)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("selected source videos (log scale)")
    label = METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(label if metric == "median_rank" else f"{label} (share of queries)")
    ax.set_title(f"Zero-shot text-to-video retrieval on the target: {label} vs budget")
    if metric != "median_rank":
        ax.set_ylim(0, max(1e-3, float(np.nanmax(table[metric]))) * 1.1)
    ax.legend(title="curation strategy", loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    save_figure(fig, png, svg)
