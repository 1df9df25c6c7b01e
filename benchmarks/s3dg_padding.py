"""Benchmark: how far S3D-G's tf_same variant is from the port variant (config features.3d.s3dg_padding).

With the seeded He-scaled weights of groundprobe.features.s3dg.seeded_state (randomised batch-norm
statistics) and two seeded uniform-noise clips at 224x224, 30 and 32 frames, it runs ``port`` (the
public PyTorch port's conventions, tests/test_s3dg.py checks it against the port), ``tf_same``, and
each of tf_same's two changes alone (its batch-norm epsilon 1e-3 with the port's pooling, its
'SAME' pooling with epsilon 1e-5), and prints for each the largest absolute difference from
``port``, of the pooled 1024-d feature and of the ``mixed_5c`` map, divided by the largest value of
port's (``rel``); and, for scale, the same figure between the two clips' port features.

    PYTHONPATH=. python benchmarks/s3dg_padding.py

Measured 2026-12-04 (torch 2.14.1, 2-core CPU, float32; the pooled feature's largest |value| is
about 0.50, the map's about 0.64):

    frames  variant             pooled max abs      rel  map max abs      rel
        30  tf_same                     0.0014   0.0028      0.00422   0.0066
        30  epsilon 1e-3 only         0.000697   0.0014      0.00157   0.0025
        30  'SAME' pools only          0.00129   0.0026      0.00417   0.0065
        30  (the other clip)          0.000307  0.00063
        32  tf_same                   0.000696   0.0014      0.00153   0.0024
        32  epsilon 1e-3 only         0.000696   0.0014      0.00153   0.0024
        32  'SAME' pools only                0        0            0        0
        32  (the other clip)          0.000206  0.00042

The variants' pooled features differ by 3-4 times as much as two noise clips' features do: at 32 frames
by the epsilon alone (every pooled size is even at 224x224), at 30 frames by both, 'SAME' pooling
of the 15 time steps at maxpool_4a weighing more. (Random weights: the trained checkpoint's
batch-norm variances, and so the epsilon's weight, may differ.)
"""

from __future__ import annotations

import argparse

import torch

from groundprobe.features.s3dg import PADDINGS, S3DG, seeded_state

STATE_SEED = 11


def model(padding: str, eps: float, state: dict[str, torch.Tensor]) -> S3DG:
    """S3D-G with ``padding``'s max-pools and batch-norm epsilon ``eps``, weights ``state``."""
    module = S3DG(padding).eval()
    module.load_state_dict(state)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm3d):
            layer.eps = eps
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224, help="frame height and width")
    args = parser.parse_args()
    state = seeded_state(STATE_SEED)
    port_eps, tf_eps = PADDINGS["port"].bn_eps, PADDINGS["tf_same"].bn_eps
    variants = {
        "tf_same": model("tf_same", tf_eps, state),
        "epsilon 1e-3 only": model("port", tf_eps, state),
        "'SAME' pools only": model("tf_same", port_eps, state),
    }
    port = model("port", port_eps, state)
    clips = torch.rand(2, 3, 32, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"{'frames':>6}  {'variant':<18}  {'pooled max abs':>14}  {'rel':>7}  {'map max abs':>11}  {'rel':>7}")
    for frames in (30, 32):
        x = clips[:, :, :frames]
        with torch.no_grad():
            reference = port.features(x)
            rows = {name: variant.features(x) for name, variant in variants.items()}
        pooled = reference.mean(dim=(2, 3, 4))
        for name, fmap in rows.items():
            pooled_diff = (fmap.mean(dim=(2, 3, 4)) - pooled).abs().max().item()
            map_diff = (fmap - reference).abs().max().item()
            print(
                f"{frames:>6}  {name:<18}  {pooled_diff:>14.3g}  "
                f"{pooled_diff / pooled.abs().max().item():>7.2g}  {map_diff:>11.3g}  "
                f"{map_diff / reference.abs().max().item():>7.2g}"
            )
        clip_diff = (pooled[0] - pooled[1]).abs().max().item()
        print(
            f"{frames:>6}  {'(the other clip)':<18}  {clip_diff:>14.3g}  {clip_diff / pooled.abs().max().item():>7.2g}"
        )


if __name__ == "__main__":
    main()
