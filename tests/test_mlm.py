"""Tests of companion.mlm: BERT's masking, the MLM loss, the tied-weight model, training, scoring."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from companion.core.training import NonFiniteLossError
from companion.mlm import (
    IGNORE_INDEX,
    KEPT,
    MASK_PROB,
    MASK_TOKEN_FRACTION,
    MASKED,
    RANDOM,
    RANDOM_TOKEN_FRACTION,
    UNSELECTED,
    MlmConfig,
    TinyBert,
    TinyBertConfig,
    all_positions_loss,
    linear_probe_accuracy,
    lr_schedule,
    mask_tokens,
    masking_outcome,
    mlm_accuracy,
    mlm_loss,
    selected_positions_loss,
    train_mlm,
)

PAD, CLS, SEP, MASK, UNK = 0, 1, 2, 3, 4
SPECIAL = (PAD, CLS, SEP, MASK, UNK)


def batch_with_specials(b: int, t: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """Rows ``[CLS] w ... w [SEP] [PAD] ...`` with ordinary ids in [5, vocab)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (b, t), generator=g)
    lengths = torch.randint(3, t + 1, (b,), generator=g)  # (B,) tokens before padding
    pos = torch.arange(t)  # (T,)
    ids[pos[None, :] >= lengths[:, None]] = PAD
    ids[:, 0] = CLS
    ids[torch.arange(b), lengths - 1] = SEP
    return ids


# ----------------------------------------------------------------------------------- mask_tokens
def test_constants_are_berts():
    assert (MASK_PROB, MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION) == (0.15, 0.8, 0.1)
    assert IGNORE_INDEX == -100 == nn.CrossEntropyLoss().ignore_index


def test_masking_statistics_on_a_large_batch():
    vocab = 1000
    ids = batch_with_specials(2000, 64, vocab)
    g = torch.Generator().manual_seed(1)
    masked, labels = mask_tokens(
        ids, vocab_size=vocab, mask_token_id=MASK, special_token_ids=SPECIAL, generator=g
    )
    special = torch.isin(ids, torch.tensor(SPECIAL))
    n_ordinary = int((~special).sum())
    selected = labels != IGNORE_INDEX
    outcome = masking_outcome(ids, masked, labels, mask_token_id=MASK)
    n_sel = int(selected.sum())
    rate = n_sel / n_ordinary
    # about 60,000 ordinary positions: the binomial std of the rate is 0.0015; allow ~3.5 std
    assert abs(rate - 0.15) < 0.005, rate
    share = {k: int((outcome == k).sum()) / n_sel for k in (MASKED, RANDOM, KEPT)}
    # about 9,000 selected positions: std 0.004 (80%) and 0.003 (10%)
    assert abs(share[MASKED] - 0.8) < 0.015, share
    assert abs(share[RANDOM] - 0.1 * (1 - 1 / 995)) < 0.012, share
    # a random draw may hit the original word: it then counts as kept
    assert abs(share[KEPT] - 0.1 * (1 + 1 / 995)) < 0.012, share
    # special positions are never selected and never changed
    assert not selected[special].any()
    assert torch.equal(masked[special], ids[special])


def test_labels_are_the_original_ids_exactly_at_selected_positions():
    ids = batch_with_specials(64, 32, 50)
    masked, labels = mask_tokens(
        ids,
        vocab_size=50,
        mask_token_id=MASK,
        special_token_ids=SPECIAL,
        generator=torch.Generator().manual_seed(0),
    )
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected])


def test_random_replacements_are_uniform_over_ordinary_ids_only():
    vocab = 8  # ordinary ids 5, 6, 7
    ids = torch.full((4000, 50), 5)
    masked, labels = mask_tokens(
        ids,
        vocab_size=vocab,
        mask_token_id=MASK,
        special_token_ids=SPECIAL,
        mlm_probability=0.5,
        mask_fraction=0.0,
        random_fraction=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    drawn = masked[labels != IGNORE_INDEX]
    assert not torch.isin(drawn, torch.tensor(SPECIAL)).any()
    freq = torch.bincount(drawn, minlength=vocab)[5:].float() / len(drawn)
    assert torch.allclose(freq, torch.full((3,), 1 / 3), atol=0.01), freq


def test_mask_fraction_one_masks_every_selected_position():
    ids = batch_with_specials(32, 16, 30)
    masked, labels = mask_tokens(
        ids,
        vocab_size=30,
        mask_token_id=MASK,
        special_token_ids=SPECIAL,
        mask_fraction=1.0,
        random_fraction=0.0,
        generator=torch.Generator().manual_seed(0),
    )
    selected = labels != IGNORE_INDEX
    assert selected.any()
    assert (masked[selected] == MASK).all()


def test_mask_token_is_always_treated_as_special():
    ids = torch.full((10, 10), MASK)
    masked, labels = mask_tokens(
        ids, vocab_size=10, mask_token_id=MASK, mlm_probability=0.99, generator=None
    )
    assert (labels == IGNORE_INDEX).all() and torch.equal(masked, ids)


def test_input_is_not_modified_and_dtype_and_device_are_kept():
    ids = batch_with_specials(8, 12, 40).to(torch.int32)
    before = ids.clone()
    masked, labels = mask_tokens(
        ids, vocab_size=40, mask_token_id=MASK, special_token_ids=SPECIAL, mlm_probability=0.5
    )
    assert torch.equal(ids, before)
    assert masked.dtype == labels.dtype == torch.int32
    assert masked.device == labels.device == ids.device


def test_same_generator_seed_same_corruption():
    ids = batch_with_specials(16, 16, 40)

    def run(seed):
        return mask_tokens(
            ids,
            vocab_size=40,
            mask_token_id=MASK,
            special_token_ids=SPECIAL,
            generator=torch.Generator().manual_seed(seed),
        )

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 6),
    t=st.integers(1, 12),
    vocab=st.integers(6, 40),
    p=st.floats(0.01, 0.99),
    seed=st.integers(0, 10_000),
)
def test_masking_properties_hold_for_any_batch(b, t, vocab, p, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (b, t), generator=g)
    masked, labels = mask_tokens(
        ids,
        vocab_size=vocab,
        mask_token_id=MASK,
        special_token_ids=SPECIAL,
        mlm_probability=p,
        generator=g,
    )
    special = torch.isin(ids, torch.tensor(SPECIAL))
    selected = labels != IGNORE_INDEX
    assert masked.shape == labels.shape == ids.shape
    assert not selected[special].any()
    assert torch.equal(masked[~selected], ids[~selected])
    assert torch.equal(labels[selected], ids[selected])
    changed = masked[selected]
    assert ((changed == MASK) | ~torch.isin(changed, torch.tensor(SPECIAL))).all()
    assert ((masked >= 0) & (masked < vocab)).all()


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_probability_outside_open_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(torch.tensor([[5, 6]]), vocab_size=10, mask_token_id=MASK, mlm_probability=p)


def test_mask_tokens_bad_input():
    ok = torch.tensor([[5, 6, 7]])
    kw = {"vocab_size": 10, "mask_token_id": MASK}
    with pytest.raises(TypeError, match="input_ids"):
        mask_tokens(ok.float(), **kw)
    with pytest.raises(TypeError, match="input_ids"):
        mask_tokens([[5, 6, 7]], **kw)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.tensor([[5, 10]]), **kw)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.tensor([[-1, 5]]), **kw)
    with pytest.raises(ValueError, match="mask_token_id"):
        mask_tokens(ok, vocab_size=10, mask_token_id=10)
    with pytest.raises(TypeError, match="special_token_ids"):
        mask_tokens(ok, special_token_ids=(0, 1.0), **kw)
    with pytest.raises(ValueError, match="special_token_ids"):
        mask_tokens(ok, special_token_ids=(0, 12), **kw)
    with pytest.raises(ValueError, match="mask_fraction"):
        mask_tokens(ok, mask_fraction=0.95, random_fraction=0.1, **kw)
    with pytest.raises(ValueError, match="random_fraction"):
        mask_tokens(ok, random_fraction=-0.1, **kw)
    with pytest.raises(ValueError, match="vocab_size"):
        mask_tokens(ok, vocab_size=1, mask_token_id=0)
    with pytest.raises(ValueError, match="special_token_ids"):
        mask_tokens(torch.tensor([[0, 1]]), vocab_size=2, mask_token_id=0, special_token_ids=(1,))


def test_masking_outcome_rejects_mismatched_shapes():
    a = torch.zeros(2, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match="masked_ids"):
        masking_outcome(a, a[:, :2], a, mask_token_id=MASK)
    with pytest.raises(TypeError, match="labels"):
        masking_outcome(a, a, a.float(), mask_token_id=MASK)


# -------------------------------------------------------------------------------------- mlm_loss
@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 4),
    t=st.integers(1, 8),
    v=st.integers(2, 12),
    seed=st.integers(0, 10_000),
)
def test_mlm_loss_equals_cross_entropy_with_ignore_index(b, t, v, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[torch.rand(b, t, generator=g) < 0.5] = IGNORE_INDEX
    labels[0, 0] = 1  # at least one counted position
    expected = F.cross_entropy(logits.reshape(-1, v), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(mlm_loss(logits, labels), expected)


def test_mlm_loss_by_hand():
    # two counted positions; V = 3
    logits = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [9.0, 9.0, 9.0]]])
    labels = torch.tensor([[0, 2, IGNORE_INDEX]])
    first = math.log(3)  # uniform over 3 words
    second = -(3 - math.log(math.exp(1) + math.exp(2) + math.exp(3)))
    assert float(mlm_loss(logits, labels)) == pytest.approx((first + second) / 2, rel=1e-6)


def test_mlm_loss_is_a_mean_over_counted_positions_of_the_batch_not_of_row_means():
    # row 0 counts one position with loss log 4; row 1 counts three positions with loss ~0
    logits = torch.zeros(2, 3, 4)
    logits[1, :, 1] = 100.0
    labels = torch.tensor([[2, IGNORE_INDEX, IGNORE_INDEX], [1, 1, 1]])
    assert float(mlm_loss(logits, labels)) == pytest.approx(math.log(4) / 4, rel=1e-5)


def test_loss_does_not_see_uncounted_positions():
    """The test that catches a mask applied after a mean (d2l-en issue #2582)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 10, generator=g)
    labels = torch.randint(0, 10, (3, 6), generator=g)
    weights = torch.rand(3, 6, generator=g) < 0.5
    weights[0, 0] = True
    labels_ignored = torch.where(weights, labels, torch.full_like(labels, IGNORE_INDEX))
    scrambled = logits.clone()
    scrambled[~weights] = torch.randn(int((~weights).sum()), 10, generator=g) * 10

    def mean_then_weight(z, y, w):  # d2l's PyTorch BERT before the fix
        loss = nn.CrossEntropyLoss()(z.reshape(-1, 10), y.reshape(-1)) * w.reshape(-1, 1)
        return loss.sum() / w.sum()

    assert float(mlm_loss(logits, labels_ignored)) == float(mlm_loss(scrambled, labels_ignored))
    # the same check fails for the buggy loss, so the test can fail
    assert float(mean_then_weight(logits, labels, weights)) != pytest.approx(
        float(mean_then_weight(scrambled, labels, weights))
    )


def test_mlm_loss_gradient_is_softmax_minus_one_hot_at_counted_positions_and_zero_elsewhere():
    logits = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([[1, -100, 3, -100, -100], [-100, 6, -100, -100, 0]])
    mlm_loss(logits, labels).backward()
    counted = labels != IGNORE_INDEX
    expected = torch.zeros_like(logits)
    one_hot = F.one_hot(labels[counted], 7).double()
    expected[counted] = (logits.detach()[counted].softmax(-1) - one_hot) / counted.sum()
    torch.testing.assert_close(logits.grad, expected)
    assert (logits.grad[~counted] == 0).all()


def test_mlm_loss_gradcheck():
    logits = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([[0, -100, 4, 2], [-100, -100, 1, 3]])
    assert torch.autograd.gradcheck(lambda z: mlm_loss(z, labels), (logits,))


def test_mlm_loss_with_nothing_counted_is_nan_like_pytorch():
    logits = torch.randn(1, 3, 4)
    labels = torch.full((1, 3), IGNORE_INDEX)
    assert math.isnan(float(mlm_loss(logits, labels)))
    assert math.isnan(float(F.cross_entropy(logits.view(-1, 4), labels.view(-1))))


def test_mlm_loss_bad_input():
    z = torch.zeros(2, 3, 5)
    y = torch.zeros(2, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match="logits"):
        mlm_loss(z.view(6, 5), y)
    with pytest.raises(ValueError, match="labels"):
        mlm_loss(z, y.view(6))
    with pytest.raises(ValueError, match="logits"):
        mlm_loss(z, y[:, :2])
    with pytest.raises(TypeError, match="logits"):
        mlm_loss(z.long(), y)
    with pytest.raises(TypeError, match="labels"):
        mlm_loss(z, y.float())
    with pytest.raises(ValueError, match="labels"):
        mlm_loss(z, torch.full((2, 3), 5))
    with pytest.raises(ValueError, match="labels"):
        mlm_loss(z, torch.full((2, 3), -1))


# ------------------------------------------------------------------------------------- TinyBert
def small_model(vocab: int = 30, seed: int = 0, **kw) -> TinyBert:
    config = TinyBertConfig(vocab_size=vocab, max_len=16, width=16, heads=2, ffn=32, **kw)
    return TinyBert(config, seed=seed)


def test_model_weights_depend_on_the_seed_only():
    torch.manual_seed(123)
    a = small_model(seed=1)
    state = torch.random.get_rng_state()
    torch.manual_seed(456)
    b, c = small_model(seed=1), small_model(seed=2)
    assert torch.equal(a.token_embedding.weight, b.token_embedding.weight)
    assert not torch.equal(a.token_embedding.weight, c.token_embedding.weight)
    torch.manual_seed(123)
    small_model(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched


def test_decoder_weight_is_the_embedding_matrix_one_storage():
    model = small_model()
    assert model.decoder.weight is model.token_embedding.weight
    assert model.decoder.weight.data_ptr() == model.token_embedding.weight.data_ptr()
    names = [n for n, _ in model.named_parameters()]
    assert "decoder.weight" not in names  # counted once, under the embedding
    with torch.no_grad():
        model.token_embedding.weight[7, 0] = 123.0
    assert float(model.decoder.weight.detach()[7, 0]) == 123.0


def test_tied_weight_gets_gradient_from_input_and_output_uses():
    model = small_model()
    ids = torch.tensor([[1, 5, 6, 2]])
    model(ids)[0, 1, 9].backward()  # word 9 appears only at the output
    grad = model.token_embedding.weight.grad
    assert grad[9].abs().sum() > 0  # through the decoder
    assert grad[5].abs().sum() > 0  # through the input embedding (and the decoder's softmax row)
    assert grad[20].abs().sum() == 0  # neither an input nor the scored output


def test_model_shapes_and_padding_does_not_leak():
    model = small_model().eval()
    ids = torch.tensor([[1, 5, 6, 7, 2]])
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.int64)], dim=1)  # trailing [PAD]
    with torch.no_grad():
        out, out_padded = model(ids), model(padded)
    assert out.shape == (1, 5, 30) and out_padded.shape == (1, 8, 30)
    torch.testing.assert_close(out, out_padded[:, :5], atol=1e-5, rtol=1e-5)


def test_model_bad_input():
    model = small_model()
    with pytest.raises(ValueError, match="input_ids"):
        model(torch.zeros(1, 17, dtype=torch.int64))
    with pytest.raises(ValueError, match="input_ids"):
        model(torch.zeros(17, dtype=torch.int64))
    with pytest.raises(ValueError, match="heads"):
        TinyBert(TinyBertConfig(vocab_size=10, width=10, heads=3))
    with pytest.raises(TypeError, match="config"):
        TinyBert({"vocab_size": 10})
    with pytest.raises(ValueError, match="seed"):
        TinyBert(TinyBertConfig(vocab_size=10), seed=-1)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"vocab_size": 1}, ValueError, "vocab_size"),
        ({"max_len": 0}, ValueError, "max_len"),
        ({"layers": 2.0}, TypeError, "layers"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"pad_id": 10}, ValueError, "pad_id"),
        ({"init_std": 0.0}, ValueError, "init_std"),
    ],
)
def test_tiny_bert_config_is_validated(kwargs, error, name):
    with pytest.raises(error, match=name):
        TinyBertConfig(**{"vocab_size": 10, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"warmup": 1.5}, ValueError, "warmup"),
        ({"decay": "no"}, TypeError, "decay"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"mask_prob": 1.0}, ValueError, "mask_prob"),
        ({"mask_fraction": 0.95}, ValueError, "mask_fraction"),
        ({"random_fraction": -0.1}, ValueError, "random_fraction"),
    ],
)
def test_mlm_config_is_validated(kwargs, error, name):
    with pytest.raises(error, match=name):
        MlmConfig(**kwargs)


def test_mlm_config_defaults_are_berts_masking():
    cfg = MlmConfig()
    assert (cfg.mask_prob, cfg.mask_fraction, cfg.random_fraction) == (0.15, 0.8, 0.1)
    assert MlmConfig(steps=1000, warmup=0.1).warmup_steps == 100
    assert MlmConfig(steps=3, warmup=0.0).warmup_steps == 1


# ---------------------------------------------------------------------------- train and score
def toy_windows() -> torch.Tensor:
    """A two-word language: after 5 always comes 6, after 7 always comes 8."""
    row = torch.tensor([1, 5, 6, 7, 8, 5, 6, 7, 8, 2])
    return row.repeat(32, 1)


def test_training_lowers_the_loss_and_is_repeatable():
    cfg = MlmConfig(steps=40, batch_size=16, lr=1e-2)
    kw = {"mask_token_id": MASK, "special_token_ids": SPECIAL, "config": cfg, "seed": 0}
    h1 = train_mlm(small_model(10), toy_windows(), **kw)
    h2 = train_mlm(small_model(10), toy_windows(), **kw)
    assert h1.loss == h2.loss
    assert sum(h1.loss[-5:]) / 5 < 0.5 * sum(h1.loss[:5]) / 5
    assert h1.loss == h1.loss_selected  # BERT's loss is the one minimised


def _watch_training(model: nn.Module):
    """Capture what ``model`` reads, the learning rate of every step and the weights after it."""
    seen, lrs, after = [], [], []
    handles = [
        model.token_embedding.register_forward_hook(
            lambda _m, inp, _out: seen.append(inp[0].clone())
        ),
        register_optimizer_step_pre_hook(lambda opt, _a, _k: lrs.append(opt.param_groups[0]["lr"])),
        register_optimizer_step_post_hook(
            lambda _opt, _a, _k: after.append(
                {n: p.detach().clone() for n, p in model.named_parameters()}
            )
        ),
    ]
    return seen, lrs, after, handles


# Every selected position shows [MASK], so the selected positions can be read off the input.
ALL_MASK = {"mask_prob": 0.3, "mask_fraction": 1.0, "random_fraction": 0.0}


@pytest.mark.parametrize("loss_on", ["all", "selected"])
def test_one_training_step_is_one_adamw_step_on_the_named_loss(loss_on):
    # Four steps, two of warm-up: the rates are lr/2, lr, lr, lr/2. The first step must be the
    # AdamW step that a hand computation takes on the loss `loss_on` names, from the same weights.
    cfg = MlmConfig(steps=4, batch_size=8, lr=1e-2, warmup=0.5, **ALL_MASK)
    model, twin = small_model(10), small_model(10)
    seen, lrs, after, handles = _watch_training(model)
    try:
        h = train_mlm(
            model, toy_windows(), mask_token_id=MASK, special_token_ids=SPECIAL,
            loss_on=loss_on, config=cfg,
        )  # fmt: skip
    finally:
        for handle in handles:
            handle.remove()
    assert lrs == pytest.approx([cfg.lr / 2, cfg.lr, cfg.lr, cfg.lr / 2])
    ids = toy_windows()[: cfg.batch_size]  # every row of the toy corpus is the same
    masked = seen[0]
    selected = masked == MASK  # (B, T)
    ordinary = ~torch.isin(ids, torch.tensor(SPECIAL))  # (B, T)
    assert selected.any() and (ordinary & ~selected).any()
    targets = ordinary if loss_on == "all" else selected
    labels = torch.where(targets, ids, torch.full_like(ids, IGNORE_INDEX))
    loss = mlm_loss(twin(masked), labels)
    assert h.loss[0] == pytest.approx(float(loss.detach()), rel=1e-5)
    flat = twin(masked).detach().flatten(0, 1)  # (B, T, V) -> (B*T, V)
    nll = F.cross_entropy(flat, ids.flatten(), reduction="none").view_as(ids)  # (B*T,) -> (B, T)
    assert h.loss_selected[0] == pytest.approx(float(nll[selected].mean()), rel=1e-5)
    if loss_on == "all":
        unselected = float(nll[ordinary & ~selected].mean())
        assert h.loss_unselected[0] == pytest.approx(unselected, rel=1e-5)
    else:
        assert h.loss == h.loss_selected and h.loss_unselected == []
    opt = torch.optim.AdamW(twin.parameters(), lr=cfg.lr / 2, weight_decay=cfg.weight_decay)
    loss.backward()
    opt.step()
    for name, p in twin.named_parameters():
        torch.testing.assert_close(after[0][name], p.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(seen[0], seen[1])  # dynamic masking: each step corrupts afresh


def test_all_positions_loss_is_the_mean_over_every_ordinary_position():
    model = small_model()
    ids = batch_with_specials(6, 12, 30)
    masked, labels = mask_tokens(
        ids, vocab_size=30, mask_token_id=MASK, special_token_ids=SPECIAL, mlm_probability=0.4,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    loss, sel, unsel = all_positions_loss(model, masked, ids, labels, torch.tensor(SPECIAL))
    logits = model(masked)
    ordinary = ~torch.isin(ids, torch.tensor(SPECIAL))
    flat = logits.flatten(0, 1)  # (B, T, V) -> (B*T, V)
    nll = F.cross_entropy(flat, ids.flatten(), reduction="none").view_as(ids)  # (B*T,) -> (B, T)
    chosen = labels != IGNORE_INDEX
    torch.testing.assert_close(loss, nll[ordinary].mean())
    torch.testing.assert_close(sel, nll[chosen].mean().detach())
    torch.testing.assert_close(unsel, nll[ordinary & ~chosen].mean().detach())
    assert loss.requires_grad and not sel.requires_grad and not unsel.requires_grad


def test_lr_schedule_warms_up_from_the_first_step_and_decays_linearly():
    f = [lr_schedule(s, steps=10, warmup_steps=4) for s in range(10)]
    assert f == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert lr_schedule(10, steps=10, warmup_steps=4) == 0.0
    flat = [lr_schedule(s, steps=10, warmup_steps=4, decay=False) for s in range(4, 12)]
    assert flat == [1.0] * 8
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_schedule(0, steps=3, warmup_steps=4)
    with pytest.raises(ValueError, match="step"):
        lr_schedule(-1, steps=3, warmup_steps=1)


def test_train_mlm_bad_input():
    with pytest.raises(ValueError, match="loss_on"):
        train_mlm(
            small_model(10),
            toy_windows(),
            mask_token_id=MASK,
            special_token_ids=SPECIAL,
            loss_on="masked",
        )
    with pytest.raises(ValueError, match="windows"):
        train_mlm(small_model(10), toy_windows()[0], mask_token_id=MASK, special_token_ids=SPECIAL)
    with pytest.raises(ValueError, match="eval_every"):
        train_mlm(
            small_model(10), toy_windows(), mask_token_id=MASK, special_token_ids=SPECIAL,
            eval_every=-1,
        )  # fmt: skip


def test_train_mlm_stops_on_a_non_finite_loss():
    model = small_model(10)
    with torch.no_grad():
        model.head_transform[0].bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 0"):
        train_mlm(
            model, toy_windows(), mask_token_id=MASK, special_token_ids=SPECIAL,
            config=MlmConfig(steps=2, batch_size=4),
        )  # fmt: skip


class CopyModel(nn.Module):
    """Predicts the token it reads: right wherever the input shows the original."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.config = TinyBertConfig(vocab_size=vocab)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.config.vocab_size).float() + self.dummy


def test_accuracy_of_a_copying_model_splits_by_what_the_input_shows():
    windows = batch_with_specials(200, 20, 500)
    acc = mlm_accuracy(CopyModel(500), windows, mask_token_id=MASK, special_token_ids=SPECIAL)
    assert acc.unselected == 1.0 and acc.kept == 1.0
    assert acc.masked == 0.0 and acc.random == 0.0
    c = acc.counts
    assert c["selected"] == c["masked"] + c["random"] + c["kept"]
    assert acc.selected == pytest.approx(c["kept"] / c["selected"])
    assert 0.12 < c["selected"] / (c["selected"] + c["unselected"]) < 0.18


def test_masking_outcome_names_each_case_and_a_random_draw_of_the_original_is_kept():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    masked = torch.tensor([[5, MASK, 11, 8, 9]])  # the last one: "random" drew the original
    labels = torch.tensor([[-100, 6, 7, 8, 9]])
    outcome = masking_outcome(ids, masked, labels, mask_token_id=MASK)
    assert outcome.tolist() == [[UNSELECTED, MASKED, RANDOM, KEPT, KEPT]]


def test_gathered_selected_loss_equals_mlm_loss_on_full_logits_with_the_same_gradient():
    model = small_model()
    ids = batch_with_specials(4, 12, 30)
    masked, labels = mask_tokens(
        ids,
        vocab_size=30,
        mask_token_id=MASK,
        special_token_ids=SPECIAL,
        mlm_probability=0.4,
        generator=torch.Generator().manual_seed(0),
    )
    full = mlm_loss(model(masked), labels)
    (g_full,) = torch.autograd.grad(full, model.token_embedding.weight)
    gathered = selected_positions_loss(model, masked, labels)
    (g_gathered,) = torch.autograd.grad(gathered, model.token_embedding.weight)
    torch.testing.assert_close(gathered, full)
    torch.testing.assert_close(g_gathered, g_full)


class CopiesOnlyInEvalMode(CopyModel):
    """Copies its input in eval mode; in training mode it never predicts the token it reads."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = super().forward(ids)
        return out if not self.training else -out


def test_accuracy_is_scored_in_eval_mode_and_the_mode_is_restored():
    model = CopiesOnlyInEvalMode(500)
    assert model.training
    windows = batch_with_specials(50, 20, 500)
    acc = mlm_accuracy(model, windows, mask_token_id=MASK, special_token_ids=SPECIAL)
    assert acc.unselected == 1.0
    assert model.training


# ---------------------------------------------------------------------------- snapshots, probe
def test_snapshot_after_k_steps_is_the_model_of_a_k_step_run():
    # Constant rate after the same warm-up: the long run's weights after 3 steps are exactly
    # those of a 3-step run (same seed, same batches), and the last snapshot is the final model.
    kw = {"mask_token_id": MASK, "special_token_ids": SPECIAL, "seed": 0}
    long_cfg = MlmConfig(steps=6, batch_size=8, lr=1e-2, warmup=2 / 6, decay=False)
    short_cfg = MlmConfig(steps=3, batch_size=8, lr=1e-2, warmup=2 / 3, decay=False)
    long_model, short_model = small_model(10), small_model(10)
    h = train_mlm(long_model, toy_windows(), config=long_cfg, snapshot_steps=(0, 3, 6), **kw)
    train_mlm(short_model, toy_windows(), config=short_cfg, **kw)
    assert sorted(h.snapshots) == [0, 3, 6]
    for name, value in short_model.state_dict().items():
        torch.testing.assert_close(h.snapshots[3][name], value)
        torch.testing.assert_close(h.snapshots[0][name], small_model(10).state_dict()[name])
        torch.testing.assert_close(h.snapshots[6][name], long_model.state_dict()[name])
    assert not torch.equal(
        h.snapshots[3]["token_embedding.weight"], h.snapshots[6]["token_embedding.weight"]
    )
    h.snapshots[3]["token_embedding.weight"].zero_()  # a copy: the model is untouched
    assert long_model.token_embedding.weight.abs().sum() > 0


def test_snapshot_steps_bad_input():
    kw = {"mask_token_id": MASK, "special_token_ids": SPECIAL, "config": MlmConfig(steps=2)}
    with pytest.raises(ValueError, match="snapshot_steps"):
        train_mlm(small_model(10), toy_windows(), snapshot_steps=(3,), **kw)
    with pytest.raises(ValueError, match="snapshot_steps"):
        train_mlm(small_model(10), toy_windows(), snapshot_steps=(-1,), **kw)
    with pytest.raises(TypeError, match="snapshot_steps"):
        train_mlm(small_model(10), toy_windows(), snapshot_steps=2, **kw)


def test_linear_probe_is_least_squares_onto_one_hot_targets():
    # Oracle: the ridge solution written with the explicit one-hot matrix and lstsq on the
    # augmented system [A; sqrt(ridge N) I] W = [Y; 0].
    g = torch.Generator().manual_seed(0)
    # unbalanced classes (70% class 0), so that the bias column matters
    x, xt = torch.randn(200, 5, generator=g) * 3 + 1, torch.randn(50, 5, generator=g) * 3 + 5
    y = torch.where(torch.rand(200, generator=g) < 0.7, 0, torch.randint(1, 4, (200,), generator=g))
    yt = torch.where(torch.rand(50, generator=g) < 0.7, 0, torch.randint(1, 4, (50,), generator=g))
    ridge = 0.05
    mean, std = x.double().mean(0), x.double().std(0)

    def design(f):
        return torch.cat([(f.double() - mean) / std, torch.ones(len(f), 1, dtype=torch.float64)], 1)

    a = design(x)
    penalty = (ridge * len(a)) ** 0.5 * torch.eye(6, dtype=torch.float64)
    lhs = torch.cat([a, penalty])
    rhs = torch.cat([F.one_hot(y, 4).double(), torch.zeros(6, 4, dtype=torch.float64)])
    w = torch.linalg.lstsq(lhs, rhs).solution  # (D + 1, C)
    expected = float(((design(xt) @ w).argmax(1) == yt).double().mean())
    assert linear_probe_accuracy(x, y, xt, yt, num_classes=4, ridge=ridge) == expected
    assert 0 < expected < 1


def test_linear_probe_reads_a_linear_code_and_not_a_shuffled_one():
    # Forty classes, each a direction of a 48-D space: read perfectly; the same features with
    # the labels shuffled give about chance (1 / 40).
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 40, (2000,), generator=g)
    x = 4 * F.one_hot(y, 48).float() + 0.3 * torch.randn(2000, 48, generator=g)  # (N, 48)
    assert linear_probe_accuracy(x[:1500], y[:1500], x[1500:], y[1500:], num_classes=40) == 1.0
    shuffled = y[torch.randperm(2000, generator=g)]
    acc = linear_probe_accuracy(x[:1500], shuffled[:1500], x[1500:], y[1500:], num_classes=40)
    assert acc < 0.15, acc


def test_linear_probe_bad_input():
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="train_labels"):
        linear_probe_accuracy(x, torch.tensor([0, 1, 0, 2]), x, y, num_classes=2)
    with pytest.raises(ValueError, match="test_features"):
        linear_probe_accuracy(x, y, torch.randn(4, 3), y, num_classes=2)
    with pytest.raises(ValueError, match="train_features and train_labels"):
        linear_probe_accuracy(x, y[:3], x, y, num_classes=2)
    with pytest.raises(ValueError, match="ridge"):
        linear_probe_accuracy(x, y, x, y, num_classes=2, ridge=0.0)
    with pytest.raises(TypeError, match="train_labels"):
        linear_probe_accuracy(x, y.float(), x, y, num_classes=2)
