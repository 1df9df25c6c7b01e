import numpy as np
import pytest
import torch

from groundprobe.model.joint_embedding import GatedEmbeddingUnit, JointEmbedding, bidirectional_hinge_loss


def brute_force_loss(sim: np.ndarray, video: list[int], margin: float) -> float:
    """The definition, literally: per anchor, half/half weighted mean hinge over each kind of negative."""
    n = len(video)
    total = 0.0
    for i in range(n):
        same = [j for j in range(n) if j != i and video[j] == video[i]]
        other = [j for j in range(n) if video[j] != video[i]]

        def mean_hinge(negatives):
            terms = [
                max(0.0, margin + sim[i][j] - sim[i][i]) + max(0.0, margin + sim[j][i] - sim[i][i]) for j in negatives
            ]
            return sum(terms) / len(terms)

        if same and other:
            total += 0.5 * mean_hinge(same) + 0.5 * mean_hinge(other)
        elif same:
            total += mean_hinge(same)
        elif other:
            total += mean_hinge(other)
    return total / n


@pytest.mark.parametrize("seed", range(5))
def test_hinge_loss_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    # Unequal segment counts, and video 7 has a single segment: its anchor has only other-video negatives.
    video = [0, 0, 0, 1, 1, 7, 2, 2, 2, 2]
    rng.shuffle(video)
    sim = rng.uniform(-1, 1, size=(len(video), len(video)))
    margin = rng.uniform(0.05, 0.5)
    got = bidirectional_hinge_loss(torch.tensor(sim), torch.tensor(video), margin).item()
    assert got == pytest.approx(brute_force_loss(sim, video, margin), abs=1e-12)


def test_hinge_loss_with_a_single_video_uses_same_video_negatives_only():
    sim = np.random.default_rng(3).uniform(-1, 1, size=(4, 4))
    got = bidirectional_hinge_loss(torch.tensor(sim), torch.tensor([5, 5, 5, 5]), 0.2).item()
    assert got == pytest.approx(brute_force_loss(sim, [5, 5, 5, 5], 0.2), abs=1e-12)


def test_hinge_loss_is_zero_when_aligned_pairs_win_by_the_margin():
    sim = torch.full((4, 4), 0.25, dtype=torch.float64)  # dyadic values: exact arithmetic
    sim.fill_diagonal_(0.5)
    assert bidirectional_hinge_loss(sim, torch.tensor([0, 0, 1, 1]), 0.25).item() == 0.0
    # Margin 0.375: every hinge is 0.125, each direction's weights sum to 1 -> 0.25.
    assert bidirectional_hinge_loss(sim, torch.tensor([0, 0, 1, 1]), 0.375).item() == 0.25


def test_same_and_other_video_negatives_weigh_half_each():
    video = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])  # every anchor has both kinds
    sim = torch.rand(len(video), len(video), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sim.requires_grad_(True)
    bidirectional_hinge_loss(sim, video, margin=10.0).backward()  # margin 10: every hinge active
    same = (video[:, None] == video[None, :]) & ~torch.eye(len(video), dtype=torch.bool)
    other = video[:, None] != video[None, :]
    weight_same = sim.grad[same].abs().sum().item()
    weight_other = sim.grad[other].abs().sum().item()
    assert weight_same / weight_other == pytest.approx(1.0, abs=1e-6)
    # Each anchor spreads weight 1 over each direction: total |grad| off the diagonal is 2.
    assert weight_same + weight_other == pytest.approx(2.0, abs=1e-9)


def test_gated_embedding_unit_follows_the_formula_and_has_unit_norm():
    torch.manual_seed(0)
    unit = GatedEmbeddingUnit(7, 5).double()
    x = torch.randn(6, 7, dtype=torch.float64)
    out = unit(x).detach().numpy()
    w1, b1 = unit.linear.weight.detach().numpy(), unit.linear.bias.detach().numpy()
    w2, b2 = unit.gate.weight.detach().numpy(), unit.gate.bias.detach().numpy()
    z = x.numpy() @ w1.T + b1
    y = z / (1 + np.exp(-(z @ w2.T + b2)))
    expected = y / np.linalg.norm(y, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-12)


def _model() -> JointEmbedding:
    torch.manual_seed(1)
    return JointEmbedding(video_dim=6, vocab_size=9, word_dim=4, joint_dim=3).double().eval()


def test_clip_embedding_is_the_unit_of_the_max_over_seconds():
    model = _model()
    seconds = torch.randn(5, 4, 6, dtype=torch.float64)
    with torch.no_grad():
        got = model.embed_clips(seconds)
        by_hand = model.clip_unit(torch.from_numpy(seconds.numpy().max(axis=1)))
        shuffled = model.embed_clips(seconds[:, torch.randperm(4)])
    torch.testing.assert_close(got, by_hand, rtol=0, atol=1e-12)
    torch.testing.assert_close(got, shuffled, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.norm(dim=1).numpy(), 1.0, atol=1e-12)


def test_caption_padding_never_changes_the_embedding():
    model = _model()
    short = torch.tensor([[3, 5], [2, 2]])
    padded = torch.tensor([[3, 5, 0, 0, 0], [2, 2, 0, 0, 0]])
    with torch.no_grad():
        before = model.embed_captions(short)
        # A padding row larger than every word would win an unmasked max-pool.
        model.word_embedding.weight[0] = 100.0
        after = model.embed_captions(padded)
        words = model.word_embedding.weight[[3, 5]].max(dim=0).values
        by_hand = model.caption_unit(words)
    torch.testing.assert_close(before, after, rtol=0, atol=1e-12)
    torch.testing.assert_close(after[0], by_hand, rtol=0, atol=1e-12)


def test_caption_of_padding_only_is_an_error():
    with pytest.raises(ValueError, match="non-padding token"):
        _model().embed_captions(torch.tensor([[4, 0], [0, 0]]))


def test_similarity_is_cosine_clip_by_caption():
    clips = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
    captions = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
    sim = JointEmbedding.similarity(clips, captions)
    cosine = torch.nn.functional.cosine_similarity(clips[1], captions[2], dim=0)
    assert sim[1, 2].item() == pytest.approx(cosine.item(), abs=1e-12)
