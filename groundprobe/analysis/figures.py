"""Figure output shared by the analyses: a non-interactive backend, PNG and SVG written atomically."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # rules run without a display

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from groundprobe.io import atomic_output  # noqa: E402

DPI = 150


def save_figure(fig: plt.Figure, png: str | os.PathLike, svg: str | os.PathLike) -> None:
    """Write ``fig`` as PNG (``DPI`` dots per inch) and SVG, each atomically, then close it."""
    for path, fmt in ((png, "png"), (svg, "svg")):
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
