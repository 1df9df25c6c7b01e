"""The demo's objects and their photographs: the objects of the studied corpus (and which of them
instructional videos show) and of the curation target domain, each a sample photograph that ships
with an installed Python package (scikit-image, scikit-learn, matplotlib), loaded offline.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

# The photographed objects; each is spoken as its own name (a lower-case token, no filler word).
# One word per object: aliases would split a name's grounding between words in the lexical OLS.
OBJECTS: tuple[str, ...] = (
    "astronaut",
    "cat",
    "coffee",
    "rocket",
    "temple",
    "flower",
    "officer",
    "galaxy",
    "coins",
    "photographer",
)

# The curation target domain: objects of the target corpus, which in the source only the in-domain
# minority shows (visually unlike OBJECTS).
TARGET_OBJECTS: tuple[str, ...] = ("motorcycle", "retina", "cells", "moon", "clock")

# Objects shown in instructional videos; the rest appear in non-instructional videos only.
INSTRUCTIONAL_OBJECTS: tuple[str, ...] = ("cat", "coffee", "temple", "flower", "coins", "photographer", "officer")


def _skimage_photo(name: str, item: int | None = None) -> Callable[[], np.ndarray]:
    """Loader of scikit-image's sample ``name`` (``item`` of it when it is a tuple of images)."""

    def load() -> np.ndarray:
        import skimage.data

        data = getattr(skimage.data, name)()
        return data if item is None else data[item]

    return load


def _sklearn_photo(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib_photo(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook

        with cbook.get_sample_data(filename) as handle:
            return np.asarray(Image.open(handle).convert("RGB"))

    return load


PHOTO_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage_photo("astronaut"),
    "cat": _skimage_photo("chelsea"),
    "coffee": _skimage_photo("coffee"),
    "rocket": _skimage_photo("rocket"),
    "temple": _sklearn_photo("china.jpg"),
    "flower": _sklearn_photo("flower.jpg"),
    "officer": _matplotlib_photo("grace_hopper.jpg"),
    "galaxy": _skimage_photo("hubble_deep_field"),
    "coins": _skimage_photo("coins"),
    "photographer": _skimage_photo("camera"),
    "motorcycle": _skimage_photo("stereo_motorcycle", 0),  # (left view, right view, disparity)
    "retina": _skimage_photo("retina"),
    "cells": _skimage_photo("immunohistochemistry"),
    "moon": _skimage_photo("moon"),
    "clock": _skimage_photo("clock"),
}


def load_photo(obj: str) -> np.ndarray:
    """The photograph of ``obj`` as uint8 RGB, shape (height, width, 3); greyscale is replicated."""
    image = np.asarray(PHOTO_LOADERS[obj]())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
