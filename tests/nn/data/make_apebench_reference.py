"""Write ``apebench_reference.npz``: APEBench 0.1.1 networks (pdequinox 0.1.2) for a few architecture strings,
their parameters and their outputs on one fixed batch, read by ``tests/nn/test_nn_specs.py``.

APEBench pins its own stack, so run this in a separate virtual environment, never the project's::

    python -m venv /tmp/apebench-venv && /tmp/apebench-venv/bin/pip install apebench==0.1.1
    /tmp/apebench-venv/bin/python tests/nn/data/make_apebench_reference.py

Keys: ``x`` (the input, channels-first ``(B, C, N)``), ``SPEC|y`` (the output) and ``SPEC|PATH`` (each
parameter under its pdequinox path). 1D, one channel, ``N = 16``.
"""

import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from apebench.components import activation_fn_dict, architecture_dict

SPECS = (
    "Conv;5;2;tanh",
    "Conv;6;1;swish",
    "Conv;6;1;gelu",
    "Conv;6;1;sigmoid",
    "Pure;3;identity",
    "Res;4;2;tanh",
    "Res;4;1;relu",
    "MoRes;4;2;tanh",
    "Dil;1;4;2;tanh",
    "FNO;3;4;2;gelu",
    "MLP;8;2;tanh",
    "UNet;4;1;tanh",
    "MoUNet;4;1;tanh",
)
NUM_POINTS = 16


def main() -> None:
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(7), (3, 1, NUM_POINTS)), dtype=np.float32)
    arrays = {"x": x}
    for seed, spec in enumerate(SPECS):
        name, activation = spec.split(";")[0].lower(), spec.split(";")[-1]
        net = architecture_dict[name](
            spec, 1, NUM_POINTS, 1, activation_fn_dict[activation](activation), jax.random.PRNGKey(seed)
        )
        arrays[f"{spec}|y"] = np.asarray(jax.vmap(net)(jnp.asarray(x)))
        for path, leaf in jax.tree_util.tree_leaves_with_path(eqx.filter(net, eqx.is_array)):
            arrays[f"{spec}|{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
    np.savez_compressed(pathlib.Path(__file__).with_name("apebench_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
