"""Tests of companion.sts (targets, Pearson loss, heads, batched encoder) and the STS data maker."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from companion.core.datasets import sts_pairs
from companion.core.datasets.sts import SLOT_WEIGHTS, expected_rating
from companion.core.text import WordTokenizer
from companion.core.training import NonFiniteLossError
from companion.sts import (
    HEADS,
    NUM_CLASSES,
    PairEnsemble,
    StsConfig,
    encode_texts,
    expected_score,
    head_losses,
    linear_calibration,
    pearson_loss,
    sparse_target_distribution,
    sts_scores,
    train_heads,
)

scores_st = st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=20)


def rand(seed: int, *shape, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- sparse_target_distribution / expected_score --------------------------------------------------


def tai_target(y: float, num_classes: int) -> list[float]:
    """The target written item by item, as in Tai et al.'s released Lua code (classes from 0)."""
    p = [0.0] * num_classes
    lo, hi = math.floor(y), math.ceil(y)
    if lo == hi:
        p[lo] = 1.0
    else:
        p[lo], p[hi] = hi - y, y - lo
    return p


@settings(max_examples=40, deadline=None)
@given(values=scores_st)
def test_sparse_target_matches_the_item_by_item_definition(values):
    scores = torch.tensor(values, dtype=torch.float64)
    expected = torch.tensor([tai_target(v, 6) for v in values], dtype=torch.float64)
    torch.testing.assert_close(sparse_target_distribution(scores), expected)


@settings(max_examples=40, deadline=None)
@given(values=scores_st)
def test_sparse_target_rows_are_distributions_with_at_most_two_neighbours(values):
    p = sparse_target_distribution(torch.tensor(values, dtype=torch.float64))
    torch.testing.assert_close(p.sum(dim=1), torch.ones(len(values), dtype=torch.float64))
    assert bool((p >= 0).all())
    nonzero = p > 0
    assert bool((nonzero.sum(dim=1) <= 2).all())
    # the non-zeros are adjacent classes
    first = nonzero.float().argmax(dim=1)
    last = nonzero.shape[1] - 1 - nonzero.flip(1).float().argmax(dim=1)
    assert bool((last - first <= 1).all())


@settings(max_examples=40, deadline=None)
@given(values=scores_st)
def test_round_trip_score_to_target_to_score(values):
    scores = torch.tensor(values, dtype=torch.float64)
    torch.testing.assert_close(expected_score(sparse_target_distribution(scores)), scores)


def test_the_issue_example_2_33():
    p = sparse_target_distribution(torch.tensor([2.33], dtype=torch.float64))[0]
    torch.testing.assert_close(
        p, torch.tensor([0, 0, 0.67, 0.33, 0, 0], dtype=torch.float64), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("k", range(6))
def test_integer_score_is_one_hot(k):
    p = sparse_target_distribution(torch.tensor([float(k)]))
    torch.testing.assert_close(p, F.one_hot(torch.tensor([k]), 6).float())


def test_top_score_is_one_hot_on_the_last_class():
    """Convention pinned by the extreme input: 5.0 is all on class 5, nothing spills past it."""
    p = sparse_target_distribution(torch.tensor([5.0, 4.999]), num_classes=6)
    assert p[0].tolist() == [0, 0, 0, 0, 0, 1]
    assert p[1, 5] > 0.99 and p[1, 4] < 0.01


def test_sick_scale_with_five_classes_is_a_shift_by_one():
    """Tai et al.'s SICK scale 1..5 (C = 5): their target for y is ours for y - 1."""
    y = torch.tensor([1.0, 2.6, 4.2, 5.0], dtype=torch.float64)
    ours = sparse_target_distribution(y - 1, num_classes=5)
    theirs = torch.tensor([tai_target(v - 1, 5) for v in y.tolist()], dtype=torch.float64)
    torch.testing.assert_close(ours, theirs)
    r = torch.arange(1, 6, dtype=torch.float64)
    torch.testing.assert_close(ours @ r, y)


def test_sparse_target_keeps_dtype_and_does_not_modify_input():
    scores = torch.tensor([0.5, 3.25], dtype=torch.float64)
    before = scores.clone()
    p = sparse_target_distribution(scores)
    assert p.dtype == torch.float64 and torch.equal(scores, before)


@pytest.mark.parametrize("bad", [-0.01, 5.01, float("nan"), float("inf")])
def test_sparse_target_rejects_scores_outside_the_scale(bad):
    with pytest.raises(ValueError, match="scores"):
        sparse_target_distribution(torch.tensor([1.0, bad]))


def test_sparse_target_bad_inputs():
    with pytest.raises(ValueError, match="scores"):
        sparse_target_distribution(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="scores"):
        sparse_target_distribution(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="num_classes"):
        sparse_target_distribution(torch.tensor([0.0]), num_classes=1)
    with pytest.raises(ValueError, match="scores"):
        sparse_target_distribution(torch.tensor([3.5]), num_classes=3)


def test_expected_score_is_r_dot_p():
    p = torch.softmax(rand(0, 4, 6), dim=1)
    torch.testing.assert_close(expected_score(p), (p * torch.arange(6.0).double()).sum(dim=1))


def test_expected_score_rejects_logits_and_bad_shapes():
    with pytest.raises(ValueError, match="probs"):
        expected_score(rand(1, 3, 6))  # logits, not probabilities
    with pytest.raises(ValueError, match="probs"):
        expected_score(torch.full((2, 6), 1 / 6)[0])
    with pytest.raises(ValueError, match="probs"):
        expected_score(torch.ones(2, 1))
    with pytest.raises(TypeError, match="probs"):
        expected_score(torch.ones(2, 6, dtype=torch.int64))


# --- pearson_loss ----------------------------------------------------------------------------------

pairs_st = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(pair=pairs_st)
def test_pearson_loss_equals_minus_scipy_pearsonr(pair):
    x, y = (np.array(v, dtype=np.float64) for v in pair)
    if np.ptp(x) < 1e-6 * (1 + np.abs(x).max()) or np.ptp(y) < 1e-6 * (1 + np.abs(y).max()):
        return  # (nearly) constant: covered by the constant-batch tests
    loss = pearson_loss(torch.tensor(x), torch.tensor(y))
    assert float(loss) == pytest.approx(-stats.pearsonr(x, y).statistic, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    slope=st.floats(0.01, 100),
    shift=st.floats(-50, 50),
)
def test_pearson_loss_is_invariant_to_an_increasing_affine_map_of_pred(seed, slope, shift):
    pred, target = rand(seed, 16), rand(seed + 1, 16)
    torch.testing.assert_close(
        pearson_loss(slope * pred + shift, target), pearson_loss(pred, target)
    )
    torch.testing.assert_close(
        pearson_loss(-slope * pred + shift, target), -pearson_loss(pred, target)
    )


def test_pearson_loss_gradcheck_float64():
    pred = rand(3, 12).requires_grad_()
    target = rand(4, 12)
    assert torch.autograd.gradcheck(lambda p: pearson_loss(p, target), (pred,))


def test_pearson_loss_gradient_is_finite_and_points_toward_the_target():
    pred = rand(5, 32, dtype=torch.float32).requires_grad_()
    target = torch.linspace(0, 5, 32)
    (grad,) = torch.autograd.grad(pearson_loss(pred, target), pred)
    assert bool(torch.isfinite(grad).all())
    after = pearson_loss(pred.detach() - 0.1 * grad, target)
    assert float(after) < float(pearson_loss(pred.detach(), target))


def test_batch_of_two_gives_plus_minus_one_and_zero_gradient():
    pred = torch.tensor([0.3, 1.7], dtype=torch.float64, requires_grad=True)
    loss = pearson_loss(pred, torch.tensor([1.0, 4.0], dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss, pred)
    assert float(loss.detach()) == pytest.approx(-1.0)
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64))


def test_pearson_loss_on_a_constant_batch_raises_instead_of_nan():
    target = torch.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="pred is constant"):
        pearson_loss(torch.full((3,), 2.5), target)
    with pytest.raises(ValueError, match="target is constant"):
        pearson_loss(target, torch.full((3,), 4.0))


def test_pearson_loss_bad_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        pearson_loss(torch.tensor([1.0]), torch.tensor([2.0]))
    with pytest.raises(ValueError, match="same shape"):
        pearson_loss(torch.rand(4), torch.rand(5))
    with pytest.raises(ValueError, match="pred"):
        pearson_loss(torch.rand(2, 4), torch.rand(2, 4))
    with pytest.raises(TypeError, match="target"):
        pearson_loss(torch.rand(4), torch.arange(4))
    with pytest.raises(ValueError, match="pred must be finite"):
        pearson_loss(torch.tensor([1.0, float("nan"), 2.0]), torch.rand(3))


# --- head_losses ------------------------------------------------------------------------------------


def test_each_head_loss_matches_its_direct_definition():
    out = rand(6, 5, 10, 6)
    gold = torch.tensor([0.0, 0.4, 1.2, 2.0, 2.6, 3.4, 3.8, 4.4, 5.0, 1.8], dtype=torch.float64)
    losses = head_losses(out, gold, list(HEADS))
    r = torch.arange(6, dtype=torch.float64)
    direct = [
        F.mse_loss(out[0, :, 0], gold),
        F.kl_div(
            F.log_softmax(out[1], -1), sparse_target_distribution(gold), reduction="batchmean"
        ),
        F.cross_entropy(out[2], gold.round().long()),
        pearson_loss(torch.softmax(out[3], -1) @ r, gold),
        pearson_loss(out[4, :, 0], gold),
    ]
    torch.testing.assert_close(losses, torch.stack(direct))


def test_kl_head_is_zero_when_the_prediction_is_the_target():
    gold = torch.tensor([0.5, 2.25, 4.0, 5.0], dtype=torch.float64)
    target = sparse_target_distribution(gold)
    logits = torch.log(target.clamp_min(1e-300))[None]  # exp gives the target back
    assert float(head_losses(logits, gold, ["softmax-kl"])[0]) == pytest.approx(0.0, abs=1e-12)


def test_head_losses_rejects_bad_heads():
    with pytest.raises(ValueError, match="heads"):
        head_losses(torch.zeros(2, 4, 6), torch.rand(4), ["linear-mse"])
    with pytest.raises(ValueError, match="heads"):
        head_losses(torch.zeros(1, 4, 6), torch.rand(4), ["softmax-mse"])
    with pytest.raises(ValueError, match="constant"):
        head_losses(torch.zeros(1, 4, 6), torch.rand(4), ["linear-pearson"])


# --- encoder ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer.from_texts(
        ["the dog chased the cat", "the cat was chased by the dog in the park"], max_size=20
    )


def reference_vectors(net: PairEnsemble, ids: torch.Tensor) -> torch.Tensor:
    """Max-pooling written the direct way: project every token, mask [PAD], amax over tokens."""
    tokens = torch.einsum("mve,med->mvd", net.emb, net.wp)[:, ids]  # (M, V, D) -> (M, B, T, D)
    tokens = torch.relu(tokens + net.bp[:, None, None])
    tokens = tokens.masked_fill((ids == net.pad_id)[None, :, :, None], 0.0)
    return tokens.amax(dim=2)


def test_lookup_max_pool_equals_direct_max_pool_in_value_and_gradient():
    net = PairEnsemble(30, ["linear-mse", "softmax-kl", "linear-pearson"], [0, 1, 2], pad_id=0)
    net.double()
    ids = torch.randint(1, 30, (5, 9), generator=torch.Generator().manual_seed(0))
    ids[:, 6:] = 0  # padding
    ours = net.sentence_vectors(ids)
    theirs = reference_vectors(net, ids)
    torch.testing.assert_close(ours, theirs)
    w = rand(7, *ours.shape)
    g_ours = torch.autograd.grad((ours * w).sum(), [net.emb, net.wp, net.bp])
    g_theirs = torch.autograd.grad((theirs * w).sum(), [net.emb, net.wp, net.bp])
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_padding_changes_nothing(tok):
    net = PairEnsemble(tok.vocab_size, ["linear-mse"], [0], pad_id=tok.pad_id)
    short = encode_texts(tok, ["the dog chased the cat"], seq_len=5)
    long = encode_texts(tok, ["the dog chased the cat"], seq_len=12)
    torch.testing.assert_close(net.sentence_vectors(short), net.sentence_vectors(long))


def test_bag_of_words_encoder_cannot_see_a_who_did_what_swap(tok):
    net = PairEnsemble(tok.vocab_size, ["linear-mse"], [3], pad_id=tok.pad_id)
    ids = encode_texts(tok, ["the dog chased the cat", "the cat chased the dog"], seq_len=6)
    h = net.sentence_vectors(ids)
    assert torch.equal(h[0, 0], h[0, 1])


def test_same_seed_same_encoder_whatever_the_head():
    net = PairEnsemble(20, ["linear-mse", "softmax-ce", "linear-mse"], [4, 4, 5], pad_id=0)
    for name in ("emb", "wp", "bp", "w1", "b1", "w2", "b2"):
        p = getattr(net, name)
        assert torch.equal(p[0], p[1])
        assert not torch.equal(p[0], p[2])


def test_readout_per_head():
    net = PairEnsemble(10, list(HEADS), [0] * 5, pad_id=0)
    out = rand(8, 5, 3, 6, dtype=torch.float32)
    pred = net.readout(out)
    r = torch.arange(6.0)
    torch.testing.assert_close(pred[0], out[0, :, 0])
    torch.testing.assert_close(pred[1], torch.softmax(out[1], -1) @ r)
    torch.testing.assert_close(pred[2], out[2].argmax(-1).float())
    torch.testing.assert_close(pred[3], torch.softmax(out[3], -1) @ r)
    torch.testing.assert_close(pred[4], out[4, :, 0])


def test_ensemble_bad_inputs():
    with pytest.raises(ValueError, match="heads"):
        PairEnsemble(10, ["linear-mse"], [0, 1], pad_id=0)
    with pytest.raises(ValueError, match="heads"):
        PairEnsemble(10, ["linear"], [0], pad_id=0)
    with pytest.raises(ValueError, match="pad_id"):
        PairEnsemble(10, ["linear-mse"], [0], pad_id=10)
    with pytest.raises(TypeError, match="config"):
        PairEnsemble(10, ["linear-mse"], [0], pad_id=0, config={"proj_dim": 3})
    net = PairEnsemble(10, ["linear-mse"], [0], pad_id=0)
    with pytest.raises(ValueError, match="ids1 and ids2 must have the same batch size"):
        net(torch.ones(2, 3, dtype=torch.long), torch.ones(3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="ids1"):
        net(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"ids2 must lie in \[0, 10\), got 10"):
        net(torch.ones(2, 3, dtype=torch.long), torch.full((2, 3), 10))
    with pytest.raises(TypeError, match="heads must be a sequence"):
        PairEnsemble(10, "linear-mse", [0], pad_id=0)
    with pytest.raises(ValueError, match=r"outputs must have size 1 in dimension 0"):
        net.readout(torch.zeros(2, 3, 6))
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        net.predict(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long), 0)


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        StsConfig(batch_size=1)
    with pytest.raises(ValueError, match="lr"):
        StsConfig(lr=0.0)
    with pytest.raises(TypeError, match="epochs"):
        StsConfig(epochs=2.0)


# --- training ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    data = sts_pairs(256, seed=0)
    tok = WordTokenizer.from_texts(data.first + data.second, max_size=200)
    return (
        encode_texts(tok, data.first, 14),
        encode_texts(tok, data.second, 14),
        data.gold,
        tok,
    )


def test_batched_training_equals_separate_training(small_data):
    """M models trained together end exactly where each ends when trained alone."""
    ids1, ids2, gold, tok = small_data
    cfg = StsConfig(epochs=1, batch_size=64, proj_dim=8, hidden=8, embed_dim=8)
    heads, seeds = ["linear-mse", "softmax-pearson"], [0, 1]
    together = PairEnsemble(tok.vocab_size, heads, seeds, tok.pad_id, cfg).double()
    train_heads(together, ids1, ids2, gold.double(), config=cfg, seed=3)
    for m in range(2):
        alone = PairEnsemble(tok.vocab_size, heads[m : m + 1], seeds[m : m + 1], tok.pad_id, cfg)
        alone.double()
        train_heads(alone, ids1, ids2, gold.double(), config=cfg, seed=3)
        for name in ("emb", "wp", "w1", "w2", "b2"):
            torch.testing.assert_close(getattr(alone, name)[0], getattr(together, name)[m])


def test_training_lowers_every_heads_loss(small_data):
    ids1, ids2, gold, tok = small_data
    cfg = StsConfig(epochs=4, batch_size=32, proj_dim=16, hidden=16, embed_dim=16)
    net = PairEnsemble(tok.vocab_size, list(HEADS), [0] * 5, tok.pad_id, cfg)
    history = train_heads(net, ids1, ids2, gold, config=cfg, seed=0)
    first, last = np.array(history.loss[0]), np.array(history.loss[-1])
    assert (last < first).all(), (first, last)
    assert history.steps == 4 * (256 // 32)
    assert not net.training


def test_training_stops_on_a_non_finite_loss(small_data):
    """Valid data, but a step size that overflows the weights: the loss turns NaN at step 1."""
    ids1, ids2, gold, tok = small_data
    net = PairEnsemble(tok.vocab_size, ["linear-mse"], [0], tok.pad_id)
    diverging = StsConfig(epochs=2, batch_size=64, lr=1e30)
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 1"):
        train_heads(net, ids1, ids2, gold, config=diverging, seed=0)


def test_non_finite_or_off_scale_gold_is_refused_before_training(small_data):
    ids1, ids2, gold, tok = small_data
    net = PairEnsemble(tok.vocab_size, ["linear-mse"], [0], tok.pad_id)
    bad = gold.clone()
    bad[5] = float("inf")
    with pytest.raises(ValueError, match="gold must be finite"):
        train_heads(net, ids1, ids2, bad)
    with pytest.raises(ValueError, match=r"gold must hold scores in \[0, 5\]"):
        train_heads(net, ids1, ids2, gold + 1)
    with pytest.raises(ValueError, match=r"gold must hold scores in \[0, 5\]"):
        head_losses(torch.zeros(1, 3, 6), torch.tensor([0.0, 1.0, 6.0]), ["linear-mse"])
    with pytest.raises(ValueError, match="gold must have one score per pair of outputs"):
        head_losses(torch.zeros(1, 3, 6), torch.tensor([1.0]), ["linear-mse"])


def test_training_bad_inputs(small_data):
    ids1, ids2, gold, tok = small_data
    net = PairEnsemble(tok.vocab_size, ["linear-mse"], [0], tok.pad_id)
    with pytest.raises(ValueError, match="ids1, ids2 and gold must have the same batch size"):
        train_heads(net, ids1, ids2, gold[:-1])
    with pytest.raises(ValueError, match="gold must hold at least 2 pairs"):
        train_heads(net, ids1[:1], ids2[:1], gold[:1])
    with pytest.raises(TypeError, match="progress must be a bool"):
        train_heads(net, ids1, ids2, gold, progress="no")
    with pytest.raises(TypeError, match="model"):
        train_heads(torch.nn.Linear(2, 2), ids1, ids2, gold)
    with pytest.raises(TypeError, match="config"):
        train_heads(net, ids1, ids2, gold, config=None)


# --- evaluation -------------------------------------------------------------------------------------


def test_sts_scores_match_scipy_and_numpy():
    pred, gold = rand(9, 50), rand(10, 50)
    s = sts_scores(pred, gold)
    assert s.pearson == pytest.approx(stats.pearsonr(pred.numpy(), gold.numpy()).statistic)
    assert s.spearman == pytest.approx(stats.spearmanr(pred.numpy(), gold.numpy()).statistic)
    assert s.mse == pytest.approx(float(((pred - gold) ** 2).mean()))


def test_sts_scores_constant_prediction_has_no_correlation():
    s = sts_scores(torch.full((4,), 2.0), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert (s.pearson, s.spearman) == (0.0, 0.0) and s.mse == pytest.approx(1.5)


def test_linear_calibration_is_the_least_squares_line():
    pred, target = rand(11, 40), rand(12, 40)
    a, b = linear_calibration(pred, target)
    a_np, b_np = np.polyfit(pred.numpy(), target.numpy(), 1)
    assert (a, b) == (pytest.approx(a_np), pytest.approx(b_np))


def test_evaluation_bad_inputs():
    with pytest.raises(ValueError, match="constant"):
        linear_calibration(torch.ones(3), torch.rand(3))
    with pytest.raises(ValueError, match="same length"):
        linear_calibration(torch.rand(3), torch.rand(4))
    with pytest.raises(ValueError, match="same length"):
        sts_scores(torch.rand(1), torch.rand(1))


def test_encode_texts_pads_and_cuts(tok):
    ids = encode_texts(tok, ["the dog chased the cat in the park"], seq_len=4)
    assert ids.tolist() == [tok.encode("the dog chased the").tolist()]
    ids = encode_texts(tok, ["dog"], seq_len=3)
    assert ids[0, 1:].tolist() == [tok.pad_id, tok.pad_id]
    with pytest.raises(ValueError, match="seq_len"):
        encode_texts(tok, ["dog"], seq_len=0)
    with pytest.raises(TypeError, match="tokenizer"):
        encode_texts(None, ["dog"], seq_len=3)


# --- the data maker ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return sts_pairs(4000, seed=1)


def test_gold_is_the_mean_of_the_ratings(data):
    assert data.ratings.dtype == torch.int64 and data.ratings.shape == (4000, 5)
    torch.testing.assert_close(data.gold, data.ratings.float().mean(dim=1))
    assert int(data.ratings.min()) >= 0 and int(data.ratings.max()) <= 5


def test_ratings_are_unbiased_around_the_exact_expectation(data):
    """The mean of many ratings agrees with E[rating | latent] computed in closed form."""
    both = torch.cat((data.ratings, data.second_ratings), dim=1).float()  # 10 per pair
    resid = both.mean(dim=1) - data.expected
    assert abs(float(resid.mean())) < 4 * float(resid.std()) / math.sqrt(len(resid))


def test_expected_rating_against_monte_carlo():
    latent = torch.tensor([0.0, 0.75, 2.5, 3.25, 5.0])
    eps = torch.randn(200_000, 5, generator=torch.Generator().manual_seed(0))
    mc = (latent + 0.8 * eps).round().clamp(0, 5).mean(dim=0)
    torch.testing.assert_close(expected_rating(latent, 0.8), mc, atol=0.01, rtol=0)


def test_latent_is_the_weighted_count_of_shared_slots(data):
    weights = set(SLOT_WEIGHTS)
    assert sum(SLOT_WEIGHTS) == 5
    assert float(data.latent.min()) >= 0 and float(data.latent.max()) <= 5
    # every latent value is a sum of a subset of the weights
    sums = {
        round(sum(w for w, keep in zip(SLOT_WEIGHTS, mask, strict=True) if keep), 6)
        for mask in np.ndindex(*(2,) * 5)
    }
    assert {round(float(v), 6) for v in data.latent.unique()} <= sums
    assert weights  # the weights exist
    # both ends of the scale occur: perfect paraphrases and pairs sharing nothing
    assert float(data.latent.max()) == 5 and float(data.latent.min()) == 0


def test_a_swap_keeps_the_words_and_loses_the_roles(data):
    idx = int(torch.nonzero(data.swapped)[0])
    assert float(data.latent[idx]) <= 5 - SLOT_WEIGHTS[0] - SLOT_WEIGHTS[2]
    assert 0.03 < float(data.swapped.float().mean()) < 0.2


def test_two_panels_agree_as_the_oracle_predicts(data):
    """corr(panel 1, panel 2) = corr(E[gold|pair], gold)^2 for exchangeable panels."""
    panels = np.corrcoef(data.gold.numpy(), data.second_gold.numpy())[0, 1]
    oracle = np.corrcoef(data.expected.numpy(), data.gold.numpy())[0, 1]
    assert panels == pytest.approx(oracle**2, abs=0.02)
    assert 0.85 < panels < 0.97


def test_same_seed_same_pairs_other_seed_other_pairs():
    a, b, c = sts_pairs(50, seed=3), sts_pairs(50, seed=3), sts_pairs(50, seed=4)
    assert a.first == b.first and a.second == b.second and torch.equal(a.ratings, b.ratings)
    assert a.first != c.first


def test_more_noise_lowers_panel_agreement():
    quiet, loud = sts_pairs(3000, seed=0, noise=0.5), sts_pairs(3000, seed=0, noise=2.0)
    agree = [np.corrcoef(d.gold.numpy(), d.second_gold.numpy())[0, 1] for d in (quiet, loud)]
    assert agree[0] > agree[1] + 0.1


def test_data_maker_bad_inputs():
    with pytest.raises(ValueError, match="n"):
        sts_pairs(0)
    with pytest.raises(ValueError, match="noise"):
        sts_pairs(5, noise=0.0)
    with pytest.raises(ValueError, match="swap_prob"):
        sts_pairs(5, swap_prob=1.5)
    with pytest.raises(TypeError, match="num_annotators"):
        sts_pairs(5, num_annotators=2.5)
    with pytest.raises(TypeError, match="latent"):
        expected_rating(torch.tensor([1, 2]), 1.0)


def test_num_classes_constant_is_the_sts_scale():
    assert NUM_CLASSES == 6


# --- constant batches during training ---------------------------------------------------------------


def test_skip_constant_gives_zero_loss_and_no_gradient_to_that_model_only():
    out = rand(13, 2, 6, 6).requires_grad_()
    flat = out.detach().clone()
    flat[0, :, 0] = 1.5  # model 0 predicts the same score for the whole batch
    flat.requires_grad_()
    gold = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    heads = ["linear-pearson", "linear-pearson"]
    losses = head_losses(flat, gold, heads, skip_constant=True)
    assert float(losses[0].detach()) == 0.0
    torch.testing.assert_close(losses[1], pearson_loss(flat[1, :, 0], gold))
    (grad,) = torch.autograd.grad(losses.sum(), flat)
    assert float(grad[0].abs().max()) == 0.0 and float(grad[1].abs().max()) > 0
    with pytest.raises(ValueError, match="constant"):
        head_losses(flat, gold, heads)
    # where nothing is constant, skipping changes nothing
    torch.testing.assert_close(
        head_losses(out, gold, heads, skip_constant=True), head_losses(out, gold, heads)
    )


def test_constant_gold_batch_is_refused_or_skipped():
    out = rand(14, 1, 4, 6)
    gold = torch.full((4,), 2.0, dtype=torch.float64)
    with pytest.raises(ValueError, match="target is constant"):
        head_losses(out, gold, ["softmax-pearson"])
    assert float(head_losses(out, gold, ["softmax-pearson"], skip_constant=True)[0]) == 0.0


def test_training_on_a_collapsed_pearson_head_raises_or_counts_skips(small_data):
    ids1, ids2, gold, tok = small_data
    cfg = StsConfig(epochs=1, batch_size=64)

    def collapsed():
        net = PairEnsemble(tok.vocab_size, ["linear-pearson", "linear-mse"], [0, 0], tok.pad_id)
        with torch.no_grad():
            net.w2[0].zero_()  # model 0's output no longer depends on the input
        return net

    with pytest.raises(ValueError, match="step 0: pred is constant"):
        train_heads(collapsed(), ids1, ids2, gold, config=cfg, seed=0)
    history = train_heads(collapsed(), ids1, ids2, gold, config=cfg, seed=0, on_constant="skip")
    assert history.skipped == [history.steps, 0]
    with pytest.raises(ValueError, match="on_constant"):
        train_heads(collapsed(), ids1, ids2, gold, config=cfg, on_constant="nan")
    with pytest.raises(TypeError, match="skip_constant"):
        head_losses(torch.zeros(1, 4, 6), torch.rand(4), ["linear-mse"], skip_constant="yes")


def test_pair_score_is_symmetric_in_the_two_sentences(small_data):
    """[|h1 - h2|, h1 * h2] does not care which sentence comes first."""
    ids1, ids2, _, tok = small_data
    net = PairEnsemble(tok.vocab_size, list(HEADS), [0, 1, 2, 3, 4], tok.pad_id)
    with torch.no_grad():
        torch.testing.assert_close(net(ids1[:32], ids2[:32]), net(ids2[:32], ids1[:32]))
