"""The training loop: metrics, reproducibility, early stopping and the kept checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bids_lrp.model import build_model
from bids_lrp.model.train import (
    DECAY_WARMUP_START,
    Recipe,
    binary_metrics,
    evaluate,
    train_model,
    warmup_schedule,
)
from tests.training.helpers import grid, toy_image

SHAPE = grid(8.0)[0]
NET = {"channels": [4, 8, 8], "pools": [2, 2, 2], "hidden": 8}


@pytest.fixture(scope="module")
def toy_arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.array([1, 0] * 6)
    images = np.stack([toy_image(rng, SHAPE, bool(y)) for y in labels])
    return images, labels


def _build() -> torch.nn.Module:
    return build_model("boehle2019", input_shape=SHAPE, **NET)


def _train(toy_arrays, **recipe):
    images, labels = toy_arrays
    settings = {"epochs": 4, "min_epochs": 0, "lr": 1e-3, **recipe}
    return train_model(_build, images, labels, np.arange(8), np.arange(8, 12), Recipe(**settings))


def test_binary_metrics_against_hand_counts():
    labels = np.array([1, 1, 1, 0, 0])
    p_ad = np.array([0.9, 0.4, 0.8, 0.3, 0.6])
    logits = np.log(np.stack([1 - p_ad, p_ad], axis=1))
    m = binary_metrics(labels, logits)
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == 0.5
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # AUC: pairs (AD, HC) ranked right: 0.9>0.3, 0.9>0.6, 0.4>0.3, 0.8>0.3, 0.8>0.6 -> 5 of 6.
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7, 0.4])))
    one_class = binary_metrics(np.array([0, 0]), logits[:2])
    assert one_class["roc_auc"] is None and one_class["sensitivity"] is None
    assert binary_metrics(np.array([], int), np.zeros((0, 2))) == {"n_scans": 0}


def test_same_seed_same_weights_other_seed_other_weights(toy_arrays):
    torch.manual_seed(123)
    before = torch.rand(1)
    a, b = _train(toy_arrays, seed=1), _train(toy_arrays, seed=1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), before)  # the caller's random state is left alone
    c = _train(toy_arrays, seed=2)
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert [r["val_loss"] for r in a.history] == [r["val_loss"] for r in b.history]


def test_early_stopping_and_best_checkpoint(toy_arrays):
    images, labels = toy_arrays
    result = _train(toy_arrays, epochs=40, min_epochs=6, patience=3, lr=3e-3)
    losses = [r["val_loss"] for r in result.history]
    best_loss_epoch = int(np.argmin(losses)) + 1
    assert result.stopped_early and result.epochs_run < 40
    assert result.epochs_run == max(6, best_loss_epoch + 3)
    # The kept checkpoint has the best validation balanced accuracy, ties: the lowest loss.
    key = [(-r["val_balanced_accuracy"], r["val_loss"]) for r in result.history]
    assert result.best_epoch == int(np.argmin([k[0] * 1e6 + k[1] for k in key])) + 1
    assert [r["epoch"] for r in result.history if r["kept"]][-1] == result.best_epoch
    again = evaluate(result.model, images[8:], labels[8:])
    assert again["loss"] == result.history[result.best_epoch - 1]["val_loss"]
    assert not result.model.training


def test_keep_lowest_loss_and_min_epochs(toy_arrays):
    result = _train(toy_arrays, epochs=7, min_epochs=7, patience=1, select="loss")
    assert result.epochs_run == 7 and not result.stopped_early
    losses = [r["val_loss"] for r in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1


def _silenced() -> torch.nn.Module:
    """The toy network with every hidden unit dead: its output no longer depends on the input."""
    model = _build()
    hidden = next(m for m in model.classifier if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        hidden.bias.fill_(-1e3)
    return model


def test_a_network_that_ignores_its_input_gets_one_warning_and_a_verdict(toy_arrays, caplog):
    images, labels = toy_arrays
    recipe = Recipe(epochs=4, min_epochs=0, lr=1e-3)
    with caplog.at_level("WARNING", logger="bids_lrp.model.train"):
        result = train_model(_silenced, images, labels, np.arange(8), np.arange(8, 12), recipe)
    assert result.epochs_run == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings  # once per run, not once per epoch, and the verdict
    assert warnings[0].startswith("epoch 1: the network gives every validation scan the same")
    assert "--lr" in warnings[0]
    assert warnings[1].startswith("the network did not learn: the kept checkpoint (epoch ")
    assert "balanced accuracy 0.500" in warnings[1] and "--seed" in warnings[1]


def test_a_run_at_chance_gets_a_verdict_only_below_the_chance_level(caplog):
    from bids_lrp.model.train import CHANCE_LEVEL, _warn_if_at_chance

    def run(bacc, auc):
        caplog.clear()
        record = {"epoch": 3, "val_balanced_accuracy": bacc, "val_roc_auc": auc}
        with caplog.at_level("WARNING", logger="bids_lrp.model.train"):
            _warn_if_at_chance([{"epoch": 1}, {"epoch": 2}, record], 3)
        return [r.getMessage() for r in caplog.records]

    assert len(run(0.569, 0.587)) == 1  # a run that never learned (seed 5, tenth round)
    assert len(run(0.5, None)) == 1  # no ROC AUC when validation has one class
    assert run(CHANCE_LEVEL + 0.01, 0.5) == []  # separates the classes somewhat
    assert run(0.55, 0.9) == []  # ranks well, threshold off: not at chance
    assert run(0.986, 1.0) == []


def test_a_learning_network_gets_no_such_warning(toy_arrays, caplog):
    with caplog.at_level("WARNING", logger="bids_lrp.model.train"):
        result = _train(toy_arrays, epochs=6)
    assert result.epochs_run == 6 and not caplog.records


def test_a_trailing_single_image_joins_the_last_batch(toy_arrays):
    images, labels = toy_arrays
    seen = []
    train_model(
        _build, images, labels, np.arange(9), np.arange(9, 12), Recipe(epochs=1, min_epochs=0),
        on_batch=lambda: seen.append(1),
    )  # fmt: skip
    assert len(seen) == 2  # 4 + 5, never a batch of one (BatchNorm needs two values)


def test_warmup_ramps_linearly_then_holds():
    ramp = Recipe(lr=1e-3, weight_decay=0.04, warmup=4)
    lrs, decays = np.array([warmup_schedule(ramp, e) for e in range(1, 8)]).T
    assert np.allclose(lrs, [1e-4, 3.25e-4, 5.5e-4, 7.75e-4, 1e-3, 1e-3, 1e-3], rtol=1e-12)
    assert np.allclose(decays, [0, 0.01, 0.02, 0.03, 0.04, 0.04, 0.04], rtol=1e-12)
    assert {warmup_schedule(Recipe(), e) for e in range(1, 8)} == {(1e-4, 1e-4)}


def test_decay_warmup_ramps_the_decay_only():
    ramp = Recipe(lr=1e-3, weight_decay=0.0401, decay_warmup=4)
    lrs, decays = np.array([warmup_schedule(ramp, e) for e in range(1, 8)]).T
    assert np.all(lrs == 1e-3)
    assert np.allclose(decays, [1e-4, 0.0101, 0.0201, 0.0301, 0.0401, 0.0401, 0.0401], rtol=1e-12)
    assert DECAY_WARMUP_START == 1e-4
    with pytest.raises(ValueError, match="two warm-ups"):
        Recipe(warmup=2, decay_warmup=2)


def test_the_warmup_is_what_the_optimizer_uses(toy_arrays):
    # With a warm-up of 2 epochs, epoch 1 runs at a tenth of the learning rate and without
    # weight decay: the same network as a run without warm-up at those values; epoch 2
    # differs. The history records what each epoch used.
    ramp = _train(toy_arrays, epochs=2, lr=2e-3, weight_decay=0.5, warmup=2)
    start = _train(toy_arrays, epochs=2, lr=2e-4, weight_decay=0.0)
    first, second = ([r["val_loss"] for r in run.history] for run in (ramp, start))
    assert first[0] == second[0] and first[1] != second[1]
    used = [(r["lr"], r["weight_decay"]) for r in ramp.history]
    assert np.allclose(used, [(2e-4, 0.0), (1.1e-3, 0.25)], rtol=1e-12)
    assert Recipe(warmup=2).to_json()["warmup"] == 2
    decay = _train(toy_arrays, epochs=3, lr=2e-3, weight_decay=0.5, decay_warmup=2)
    used = [(r["lr"], r["weight_decay"]) for r in decay.history]
    assert np.allclose(used, [(2e-3, 1e-4), (2e-3, 0.25005), (2e-3, 0.5)], rtol=1e-12)
    assert Recipe(decay_warmup=2).to_json()["decay_warmup"] == 2


def test_label_smoothing_is_the_training_loss(toy_arrays):
    # Cross-entropy against the smoothed targets (0.75, 0.25 for S = 0.5) can never fall below
    # their entropy; the plain loss of the same run without smoothing falls well below it.
    floor = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    fit = {"epochs": 30, "lr": 1e-2, "weight_decay": 0.0}
    plain, smooth = _train(toy_arrays, **fit), _train(toy_arrays, **fit, label_smoothing=0.5)
    assert min(r["train_loss"] for r in plain.history) < floor - 0.1
    assert min(r["train_loss"] for r in smooth.history) >= floor - 1e-6
    assert Recipe(label_smoothing=0.5).to_json()["label_smoothing"] == 0.5


def test_no_early_stop_during_the_warmup(toy_arrays):
    # A learning rate too small to move the weights (only BatchNorm's running statistics
    # settle): without warm-up, patience 1 stops within 4 epochs; with a warm-up of 4 epochs,
    # not before epoch 5.
    still = {"epochs": 8, "lr": 1e-12, "weight_decay": 0.0, "patience": 1}
    plain, warm = _train(toy_arrays, **still), _train(toy_arrays, **still, warmup=4)
    assert plain.stopped_early and plain.epochs_run <= 4
    assert warm.stopped_early and warm.epochs_run >= 5
    decay = _train(toy_arrays, **still, decay_warmup=4)
    assert decay.stopped_early and decay.epochs_run >= 5


def test_monitoring_starts_at_monitor_from(toy_arrays):
    # Checkpoints are kept and patience is counted only from epoch 5 on: the kept epoch is the
    # best of epochs 5.., never earlier, and early stopping comes patience epochs after the
    # lowest validation loss of those epochs, whatever the epochs before did.
    for settings in ({"lr": 3e-3}, {"lr": 1e-12, "weight_decay": 0.0}):
        result = _train(toy_arrays, epochs=14, patience=2, monitor_from=5, **settings)
        monitored = result.history[4:]
        key = [(-r["val_balanced_accuracy"], r["val_loss"]) for r in monitored]
        assert result.best_epoch == 5 + min(range(len(key)), key=key.__getitem__)
        assert not any(r["kept"] for r in result.history[:4])
        lowest = 5 + int(np.argmin([r["val_loss"] for r in monitored]))
        assert result.epochs_run == min(14, lowest + 2) and result.epochs_run >= 6
    # without it, the same still run stops 2 epochs after its lowest loss of all epochs
    plain = _train(toy_arrays, epochs=14, patience=2, lr=1e-12, weight_decay=0.0)
    assert plain.epochs_run == int(np.argmin([r["val_loss"] for r in plain.history])) + 3
    with pytest.raises(ValueError, match="monitor_from"):
        Recipe(epochs=4, monitor_from=5)


def test_subnormal_floats_are_flushed_while_training_only(toy_arrays):
    images, labels = toy_arrays
    tiny = torch.tensor([1e-39])  # subnormal in float32
    seen = []
    train_model(
        _build, images, labels, np.arange(8), np.arange(8, 12), Recipe(epochs=1, min_epochs=0),
        on_batch=lambda: seen.append(float((tiny * 1.0)[0])),
    )  # fmt: skip
    assert seen and set(seen) == {0.0}
    assert float((tiny * 1.0)[0]) > 0  # the default is back afterwards


@pytest.mark.parametrize("jitter", [{"pose_jitter": 0.5}, {"intensity_jitter": 0.25}])
def test_the_loop_applies_the_jitters(toy_arrays, jitter):
    # Same seed, same data: only the augmentation can make the weights differ.
    plain, jittered = (
        _train(toy_arrays, epochs=2, seed=4),
        _train(toy_arrays, epochs=2, seed=4, **jitter),
    )
    sp, sj = plain.model.state_dict(), jittered.model.state_dict()
    assert not all(torch.equal(sp[k], sj[k]) for k in sp)
