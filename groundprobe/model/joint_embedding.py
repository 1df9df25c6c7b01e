"""The joint clip/caption embedding of Hessel et al. (2020) and its bidirectional hinge loss.

A clip is ``L`` consecutive seconds of per-second video features (shape ``(L, D)``); a caption is
the token ids spoken during those seconds. Both are max-pooled and mapped by a gated embedding
unit (Miech et al.) onto the unit sphere of the joint space, where similarity is the cosine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PADDING_ID = 0


class GatedEmbeddingUnit(nn.Module):
    """``Z = W1 x + b1; Y = Z * sigmoid(W2 Z + b2); out = Y / |Y|``: (..., in_dim) -> (..., out_dim)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.gate = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return F.normalize(z * torch.sigmoid(self.gate(z)), dim=-1)


class JointEmbedding(nn.Module):
    """Clips and captions in one ``joint_dim``-d space.

    ``vocab_size`` counts real tokens: ids run 1..vocab_size and id 0 is padding, so the word
    embedding table has ``vocab_size + 1`` rows.
    """

    def __init__(self, video_dim: int, vocab_size: int, word_dim: int = 300, joint_dim: int = 256) -> None:
        super().__init__()
        self.word_embedding = nn.Embedding(vocab_size + 1, word_dim, padding_idx=PADDING_ID)
        self.clip_unit = GatedEmbeddingUnit(video_dim, joint_dim)
        self.caption_unit = GatedEmbeddingUnit(word_dim, joint_dim)

    def embed_clips(self, seconds: torch.Tensor) -> torch.Tensor:
        """Clip seconds ``(N, L, D)`` -> unit vectors ``(N, E)``: max-pool over the L seconds."""
        return self.clip_unit(seconds.amax(dim=1))

    def embed_captions(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``(N, T)`` (long, 0 = padding) -> unit vectors ``(N, E)``.

        Max-pool over the word embeddings of the real tokens only: padding positions are set to
        -inf first, so they can never win the max whatever the padding row holds.
        """
        real = token_ids != PADDING_ID
        if not bool(real.any(dim=1).all()):
            raise ValueError("every caption needs at least one non-padding token")
        words = self.word_embedding(token_ids).masked_fill(~real.unsqueeze(-1), float("-inf"))
        return self.caption_unit(words.amax(dim=1))

    def forward(self, seconds: torch.Tensor, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips ``(N, L, D)`` and their captions ``(N, T)`` -> unit vectors ``((N, E), (N, E))``.

        Multi-process training calls the model through this method: DistributedDataParallel
        synchronises the gradients of what runs through ``forward`` only.
        """
        return self.embed_clips(seconds), self.embed_captions(token_ids)

    @staticmethod
    def similarity(clips: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        """Cosine similarities ``(N, M)`` of unit vectors; entry [i, j] is clip i vs caption j."""
        return clips @ captions.T


def bidirectional_hinge_loss(sim: torch.Tensor, video_index: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge loss of aligned pairs against in-batch negatives in both directions (scalar).

    ``sim`` (N, N): clip i vs caption j, with the aligned pairs on the diagonal; ``video_index``
    (N,): which video each pair comes from. For anchor i and negative j != i the hinge terms are
    ``max(0, margin + s(i, j) - s(i, i))`` (clip i against wrong caption j) and
    ``max(0, margin + s(j, i) - s(i, i))`` (caption i against wrong clip j).

    The paper samples each negative from the same video with probability 1/2 and from another
    video with probability 1/2. This loss is the expectation of that sampling over all in-batch
    negatives: an anchor's same-video negatives share weight 1/2 equally, its other-video
    negatives share the other 1/2; if an anchor has only one kind, that kind takes the full weight.
    The result is the mean over anchors of the weighted sum of both directions' hinges.
    """
    n = sim.shape[0]
    aligned = sim.diagonal().unsqueeze(1)
    clip_to_caption = (margin + sim - aligned).clamp(min=0)
    caption_to_clip = (margin + sim.T - aligned).clamp(min=0)

    same_video = video_index.unsqueeze(1) == video_index.unsqueeze(0)
    same_negative = same_video & ~torch.eye(n, dtype=torch.bool, device=sim.device)
    other_negative = ~same_video
    n_same = same_negative.sum(dim=1, keepdim=True)
    n_other = other_negative.sum(dim=1, keepdim=True)
    # Half the weight for each kind when the anchor has both, all of it when it has only one.
    share = 1.0 - 0.5 * ((n_same > 0) & (n_other > 0)).to(sim.dtype)
    weights = same_negative * (share / n_same.clamp(min=1)) + other_negative * (share / n_other.clamp(min=1))
    return ((clip_to_caption + caption_to_clip) * weights).sum(dim=1).mean()
