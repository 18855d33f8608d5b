"""Time-level losses: hand-computed values, scale invariance, analytic Sobolev norms, Fourier bands."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from emutrain.losses import (
    FirstChannels,
    FourierBandLoss,
    H1Loss,
    MAELoss,
    MSELoss,
    NormalizedMAELoss,
    NormalizedMSELoss,
    NormalizedRMSELoss,
    RMSELoss,
)

# Two samples, N=2, C=1: errors (1, -1) and (2, 2); references (1, 1) and (2, 0).
PRED = jnp.asarray([[[2.0], [0.0]], [[4.0], [2.0]]])
REF = jnp.asarray([[[1.0], [1.0]], [[2.0], [0.0]]])


@pytest.mark.parametrize(
    "loss,per_sample",
    [
        (MSELoss(), [1.0, 4.0]),
        (MAELoss(), [1.0, 2.0]),
        (RMSELoss(), [1.0, 2.0]),
        (NormalizedMSELoss(), [1.0, 4.0 / 2.0]),
        (NormalizedMAELoss(), [1.0, 2.0 / 1.0]),
        (NormalizedRMSELoss(), [1.0, np.sqrt(2.0)]),
    ],
)
def test_hand_computed_values_and_batch_reduction(loss, per_sample):
    np.testing.assert_allclose(loss(PRED, REF), np.mean(per_sample), rtol=1e-6)
    summed = type(loss)(batch_reduction=jnp.sum)
    np.testing.assert_allclose(summed(PRED, REF), np.sum(per_sample), rtol=1e-6)


def test_pytree_states_sum_over_leaves_and_none_means_zero():
    tree_pred, tree_ref = {"a": PRED, "b": 2 * PRED}, {"a": REF, "b": 2 * REF}
    np.testing.assert_allclose(MSELoss()(tree_pred, tree_ref), 2.5 + 4 * 2.5, rtol=1e-6)
    np.testing.assert_allclose(MSELoss()(PRED - REF), 2.5, rtol=1e-6)
    with pytest.raises(ValueError, match="ref must be given for NormalizedMSELoss"):
        NormalizedMSELoss()(PRED)


@pytest.mark.parametrize("loss", [NormalizedMSELoss(), NormalizedMAELoss(), NormalizedRMSELoss()])
def test_normalized_losses_are_scale_invariant(loss):
    rng = np.random.default_rng(0)
    pred, ref = rng.normal(size=(3, 8, 2)), rng.normal(size=(3, 8, 2))
    np.testing.assert_allclose(loss(37.0 * pred, 37.0 * ref), loss(pred, ref), rtol=1e-5)


@pytest.mark.parametrize("num_spatial_dims,mode,extent", [(1, 3, 2 * np.pi), (1, 5, 3.0), (2, 2, 1.0)])
def test_h1_loss_of_a_sine_is_analytic(num_spatial_dims, mode, extent):
    n = 16
    x = np.arange(n) * extent / n
    wave = 2 * np.pi * mode / extent
    field = np.sin(wave * x)
    if num_spatial_dims == 2:
        field = field[:, None] * np.ones(n)[None, :]  # varies along the first axis only
    pred = jnp.asarray(np.stack([field, 2 * field])[..., None])
    ref = jnp.zeros_like(pred)
    # mean(sin^2) = 1/2, mean((d/dx sin(wx))^2) = w^2 / 2; sample 2 is scaled by 2 (factor 4).
    expected = np.mean([1.0, 4.0]) * 0.5 * (1 + wave**2)
    np.testing.assert_allclose(H1Loss(num_spatial_dims, extent)(pred, ref), expected, rtol=1e-5)
    np.testing.assert_allclose(
        H1Loss(num_spatial_dims, extent, derivative_weight=0.0)(pred, ref), MSELoss()(pred, ref), rtol=1e-6
    )


def test_fourier_band_loss_weights_bands():
    n = 24
    x = np.arange(n) / n
    low, mid, high = (np.sin(2 * np.pi * k * x) for k in (2, 6, 11))  # r = k / 12: 1/6, 1/2, 11/12
    pred = jnp.asarray(np.stack([low + mid, 3 * high])[..., None])
    ref = jnp.zeros_like(pred)
    loss = FourierBandLoss(1, band_weights=(1.0, 10.0, 100.0))
    # sample 1: 0.5 (low) * 1 + 0.5 (mid) * 10; sample 2: 9 * 0.5 (high) * 100.
    np.testing.assert_allclose(loss(pred, ref), np.mean([0.5 + 5.0, 450.0]), rtol=1e-5)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 6, 10, 3)), rng.normal(size=(2, 6, 10, 3))
    np.testing.assert_allclose(FourierBandLoss(2)(a, b), MSELoss()(a, b), rtol=1e-5)  # Parseval
    with pytest.raises(ValueError, match="band_weights must have len"):
        FourierBandLoss(1, band_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="num_spatial_dims=2"):
        FourierBandLoss(2)(pred, ref)


def test_first_channels_is_the_loss_of_the_predicted_channels_only():
    rng = np.random.default_rng(0)
    pred, ref = (jnp.asarray(rng.normal(size=(3, 8, 5)), jnp.float32) for _ in range(2))
    loss = FirstChannels(NormalizedMSELoss(), 2)
    np.testing.assert_allclose(loss(pred, ref), NormalizedMSELoss()(pred[..., :2], ref[..., :2]), rtol=1e-6)
    np.testing.assert_allclose(FirstChannels(MSELoss(), 3)(pred), MSELoss()(pred[..., :3]), rtol=1e-6)
    changed = ref.at[..., 2:].add(10.0)  # the other channels are never compared
    assert loss(pred, changed) == loss(pred, ref)
    with pytest.raises(ValueError, match="num_channels must be >= 1, got 0"):
        FirstChannels(MSELoss(), 0)
