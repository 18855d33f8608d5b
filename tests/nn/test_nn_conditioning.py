"""nn.Conditioned: a network with conditioning channels whose weights on them are zero is the network
without them; conditioning values reach the prediction and are carried unchanged through a rollout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from emutrain import nn
from emutrain.physics import rollout

C, K = 3, 2
SPECS = ["Conv;8;2;relu", "Res;8;1;relu", "UNet;4;1;relu", "FNO;4;4;2;gelu"]


def _zero_padded(plain, conditioned):
    """`conditioned`'s parameters set to `plain`'s, zero on the extra (conditioning) input channels."""

    def pad(small, large):
        small, large = np.asarray(small), np.asarray(large)
        out = np.zeros_like(large)
        out[tuple(slice(0, n) for n in small.shape)] = small
        return jnp.asarray(out)

    state = jax.tree.map(pad, nnx.state(plain, nnx.Param), nnx.state(conditioned, nnx.Param))
    nnx.update(conditioned, state)
    return conditioned


@pytest.mark.parametrize("spec", SPECS)
def test_zero_weights_on_the_conditioning_give_the_network_without_it(spec):
    plain = nn.from_spec(spec, 2, C, C, num_points=(8, 8), rngs=nnx.Rngs(0))
    wider = nn.from_spec(spec, 2, C + K, C, num_points=(8, 8), rngs=nnx.Rngs(1))
    model = nn.Conditioned(_zero_padded(plain, wider), K)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, C))
    conditioning = jax.random.normal(jax.random.key(1), (4, 8, 8, K))
    out = model(jnp.concatenate([x, conditioning], -1))
    np.testing.assert_allclose(out[..., :C], plain(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[..., C:], conditioning)


@pytest.mark.parametrize("spec", SPECS)
def test_the_conditioning_reaches_the_prediction_and_stays_fixed_over_a_rollout(spec):
    model = nn.Conditioned(nn.from_spec(spec, 2, C + K, C, num_points=(8, 8), rngs=nnx.Rngs(1)), K)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, C))
    scalars = jnp.broadcast_to(jnp.array([0.5, -1.0]), (4, 8, 8, K))  # a parameter broadcast over space
    first = model(jnp.concatenate([x, scalars], -1))[..., :C]
    second = model(jnp.concatenate([x, scalars.at[..., 1].set(2.0)], -1))[..., :C]
    assert float(jnp.max(jnp.abs(first - second))) > 1e-4
    trajectory = rollout(model, 3, include_init=True)(jnp.concatenate([x, scalars], -1))
    for level in range(4):
        np.testing.assert_array_equal(trajectory[:, level, ..., C:], scalars)


def test_bad_conditioning_raises_naming_the_argument():
    network = nn.from_spec("Conv;4;1;relu", 1, C + K, C, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_conditioning must be >= 1"):
        nn.Conditioned(network, 0)
    with pytest.raises(ValueError, match="more than num_conditioning=2 channels"):
        nn.Conditioned(network, K)(jnp.zeros((1, 8, 2)))
    with pytest.raises(ValueError, match="network must map the 5 input channels to the 4 predicted ones"):
        nn.Conditioned(network, 1)(jnp.zeros((1, 8, 5)))
    with pytest.raises(TypeError, match="x must"):
        nn.Conditioned(network, K)(jnp.zeros((1, 8, 5), jnp.int32))
