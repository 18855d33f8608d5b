"""A census of bad inputs and faults through the public API and the run config.

Every case asserts the exception type and that the message names the parameter, flag or path the user
got wrong (TypeError for wrong types, including int/bool/complex arrays where floats are needed;
ValueError for wrong values; OSError subclasses for file-system faults). Run-config cases are built like
`--config.x=value` (an override of `configs/default.py`'s config, type-checked by ml_collections) and go
through `emutrain.schema.validate_config`, the check `train_and_evaluate` runs first.

`CATEGORY_COUNTS` at the end is the census by category (the README's reliability table).
"""

import collections
import dataclasses
import errno
import os
import re
import shutil
from collections.abc import Callable

import h5py
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from emutrain import (
    configurations,
    data,
    evaluate,
    experiment,
    losses,
    nn,
    optimizers,
    physics,
    scenarios,
    schema,
    study,
)
from emutrain.config_files import load_config
from emutrain.schema import default_config, leaf_paths, validate_config
from emutrain.train import Trainer, TrainState
from emutrain.train.checkpoint import (
    Checkpointer,
    CheckpointMismatchError,
    CheckpointSaveError,
    UnrestorableCheckpointError,
)
from emutrain.train.lock import WorkdirLockedError, workdir_lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 16
BAD_DTYPES = {"int32": np.int32, "bool": np.bool_, "complex64": np.complex64}


@dataclasses.dataclass(frozen=True)
class Case:
    """`call()` must raise `error` with a message matching `match` (a regex naming the culprit)."""

    category: str
    name: str
    call: Callable[[], object]
    error: type
    match: str
    xfail: str | None = None  # why the case still fails (another package's fix in progress)


CASES: list[Case] = []


def case(category, name, call, error, match, xfail=None):
    CASES.append(Case(category, name, call, error, match, xfail))


def _stepper():
    return physics.DifficultyLinearStepperSimple(1, N, difficulty=-1.0)


def _traj(dtype=np.float32, shape=(3, 5, N, 1)):
    return np.zeros(shape, dtype)


def _batch(dtype=np.float32, shape=(2, N, 1)):
    return np.zeros(shape, dtype)


def _net(kind: str, num_spatial_dims: int = 1):
    rngs = nnx.Rngs(0)
    if kind == "ResNet":
        return nn.ResNet(num_spatial_dims, 1, 1, hidden_channels=4, num_blocks=1, rngs=rngs)
    if kind == "FNO":
        return nn.FNO(num_spatial_dims, 1, 1, hidden_channels=4, num_blocks=1, modes=3, rngs=rngs)
    if kind == "UNet":
        return nn.UNet(num_spatial_dims, 1, 1, hidden_channels=4, num_levels=1, rngs=rngs)
    if kind == "ConvNet":
        return nn.ConvNet(num_spatial_dims, 1, 1, hidden_channels=4, depth=1, rngs=rngs)
    if kind == "MLP":
        return nn.MLP(num_spatial_dims, 1, 1, num_points=N, width_size=4, depth=1, rngs=rngs)
    raise AssertionError(kind)


# -- 1. dtypes: int32, bool and complex where real floats are needed ---------------------------------

for label, dtype in BAD_DTYPES.items():
    # `d=dtype` binds the loop value (the lambdas run later)
    case(
        "dtype",
        f"TrajectoryWindows trajectories {label}",
        lambda d=dtype: data.TrajectoryWindows(_traj(d), 2),
        TypeError,
        rf"trajectories .*{label}",
    )
    case(
        "dtype",
        f"save_trajectories trajectories {label}",
        lambda d=dtype: data.save_trajectories(os.devnull + "_x", _traj(d)),
        TypeError,
        rf"trajectories .*{label}",
    )
    case(
        "dtype",
        f"evaluate_rollout reference_trajectories {label}",
        lambda d=dtype: evaluate.evaluate_rollout(_stepper(), _traj(d)),
        TypeError,
        rf"reference_trajectories .*{label}",
    )
    case(
        "dtype",
        f"make_eval_fn test set {label}",
        lambda d=dtype: evaluate.make_eval_fn(_traj(d)),
        TypeError,
        rf"reference_trajectories .*{label}",
    )
    case(
        "dtype",
        f"rollout_trajectories initial_states {label}",
        lambda d=dtype: evaluate.rollout_trajectories(_stepper(), _batch(d), 2),
        TypeError,
        rf"initial_states .*{label}",
    )
    case(
        "dtype",
        f"physics stepper state {label}",
        lambda d=dtype: _stepper()(jnp.zeros((2, N, 1), d)),
        TypeError,
        rf"\bu\b.*{label}",
    )
    for kind in ("ResNet", "FNO", "UNet", "ConvNet", "MLP"):
        case(
            "dtype",
            f"{kind} input {label}",
            lambda d=dtype, k=kind: _net(k)(_batch(d)),
            TypeError,
            rf"\bx\b.*{label}",
        )
    for conf in ("Supervised", "DivertedChainBranchOne"):
        case(
            "dtype",
            f"{conf} data window {label}",
            lambda d=dtype, c=conf: getattr(configurations, c)(2)(
                _stepper(), jnp.zeros((2, 3, N, 1), d), ref_stepper=_stepper()
            ),
            TypeError,
            rf"\bdata\b.*{label}",
        )
    case(
        "dtype",
        f"MSELoss pred {label}",
        lambda d=dtype: losses.MSELoss()(jnp.zeros((2, N, 1), d), jnp.zeros((2, N, 1))),
        TypeError,
        rf"\bpred\b.*{label}",
    )
    case(
        "dtype",
        f"Trainer.fit batches {label}",
        lambda d=dtype: _trainer().fit(_tiny_model(), iter([np.zeros((2, 3, N, 1), d)] * 2), num_steps=1),
        TypeError,
        rf"\bdata\b.*{label}",
    )


# -- 2. physical parameters: NaN/Inf/non-positive --------------------------------------------------

for value, label in ((float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf")):
    case(
        "physics",
        f"DifficultyLinearStepperSimple difficulty={label}",
        lambda v=value: physics.DifficultyLinearStepperSimple(1, N, difficulty=v),
        ValueError,
        r"\bdifficulty must be finite",
    )
    case(
        "physics",
        f"DifficultyLinearStepper linear_difficulties=({label},)",
        lambda v=value: physics.DifficultyLinearStepper(1, N, linear_difficulties=(0.0, v)),
        ValueError,
        r"linear_difficulties must be finite",
    )
for name, value in (
    ("dt", 0.0),
    ("dt", -0.1),
    ("dt", float("nan")),
    ("domain_extent", 0.0),
    ("domain_extent", -1.0),
    ("domain_extent", float("inf")),
):
    args = dict(num_spatial_dims=1, domain_extent=1.0, num_points=N, dt=0.1)
    args[name] = value
    for stepper in ("Advection", "Diffusion", "Burgers", "KortewegDeVries", "KuramotoSivashinsky"):
        case(
            "physics",
            f"{stepper} {name}={value}",
            lambda s=stepper, a=dict(args): getattr(physics, s)(**a),
            ValueError,
            rf"\b{name} must be",
        )
for stepper in ("NavierStokesVorticity", "FisherKPP", "GrayScott", "SwiftHohenberg"):
    dims = 2 if stepper == "NavierStokesVorticity" else 1
    case(
        "physics",
        f"{stepper} dt=0",
        lambda s=stepper, n=dims: getattr(physics, s)(n, 1.0, N, 0.0),
        ValueError,
        r"\bdt must be > 0",
    )
case(
    "physics",
    "DifficultyLinearStepperSimple num_points=0",
    lambda: physics.DifficultyLinearStepperSimple(1, 0),
    ValueError,
    r"num_points must be >= ",
)
case(
    "physics",
    "DifficultyLinearStepperSimple num_points=2.5",
    lambda: physics.DifficultyLinearStepperSimple(1, 2.5),
    TypeError,
    r"num_points must be an int",
)
case(
    "physics",
    "DifficultyLinearStepperSimple num_points=True",
    lambda: physics.DifficultyLinearStepperSimple(1, True),
    TypeError,
    r"num_points must be an int",
)
case(
    "physics",
    "DifficultyLinearStepperSimple num_spatial_dims=0",
    lambda: physics.DifficultyLinearStepperSimple(0, N),
    ValueError,
    r"num_spatial_dims must be >= 1",
)
case(
    "physics",
    "DifficultyLinearStepperSimple num_spatial_dims=4",
    lambda: physics.DifficultyLinearStepperSimple(4, N),
    ValueError,
    r"num_spatial_dims must be (<= 3|one of \(1, 2, 3\))",
)
case(
    "physics",
    "DifficultyLinearStepperSimple order=-1",
    lambda: physics.DifficultyLinearStepperSimple(1, N, order=-1),
    ValueError,
    r"order must be >= 0",
)
case(
    "physics",
    "Advection velocity=nan",
    lambda: physics.Advection(1, 1.0, N, 0.1, velocity=float("nan")),
    ValueError,
    r"velocity",
)
case(
    "physics",
    "Diffusion diffusivity=nan",
    lambda: physics.Diffusion(1, 1.0, N, 0.1, diffusivity=float("nan")),
    ValueError,
    r"diffusivity",
)
case(
    "physics",
    "UpwindAdvection boundary='bogus'",
    lambda: physics.UpwindAdvection(1, 1.0, N, 0.1, boundary="bogus"),
    ValueError,
    r"boundary must be one of",
)
case(
    "physics",
    "make_grid domain_extent=0",
    lambda: physics.make_grid(1, 0.0, N),
    ValueError,
    r"domain_extent must be > 0",
)
case(
    "physics",
    "RandomTruncatedFourierSeries cutoff=0",
    lambda: physics.RandomTruncatedFourierSeries(1, cutoff=0),
    ValueError,
    r"cutoff must be >= 1",
)


# -- 3. shapes and spatial rank ---------------------------------------------------------------------

case(
    "shape",
    "ResNet 1D given a batch without channel axis",
    lambda: _net("ResNet")(np.zeros((2, N), np.float32)),
    ValueError,
    r"\bx must have shape \(B, \*spatial, C\)",
)
case(
    "shape",
    "ResNet 1D given a single state without batch axis",
    lambda: _net("ResNet")(np.zeros((N, 1), np.float32)),
    ValueError,
    r"\bx must have shape",
)
case(
    "shape",
    # (a 1D network given (B, N, N, C) reads the extra leading axis as a batch axis, by design)
    "ResNet 2D given a 1D batch",
    lambda: _net("ResNet", 2)(np.zeros((2, N, 1), np.float32)),
    ValueError,
    r"\bx must have shape \(B, \*spatial, C\).*num_spatial_dims=2",
)
case(
    "shape",
    "FNO 2D given a 1D batch",
    lambda: _net("FNO", 2)(np.zeros((2, N, 1), np.float32)),
    ValueError,
    r"\bx must have shape",
)
case(
    "shape",
    # (a 1D stepper given (B, N, N, C) reads the extra axis as a batch axis: docs/architecture.md,
    # "Array conventions")
    "physics 2D stepper given a 1D state",
    lambda: physics.DifficultyLinearStepperSimple(2, N, difficulty=-1.0)(jnp.zeros((2, N, 1))),
    ValueError,
    rf"\bu must have shape \(\.\.\., {N}, {N}, 1\)",
)
case(
    "shape",
    "physics stepper given the wrong number of points",
    lambda: _stepper()(jnp.zeros((2, N + 2, 1))),
    ValueError,
    rf"\bu\b.*{N}",
)
case(
    "shape",
    "TrajectoryWindows without spatial and channel axes",
    lambda: data.TrajectoryWindows(np.zeros((3, 5), np.float32), 2),
    ValueError,
    r"trajectories must have shape \(S, T\+1, \*spatial, C\)",
)
case(
    "shape",
    "evaluate_rollout reference without sample axis",
    lambda: evaluate.evaluate_rollout(_stepper(), np.zeros((5, N, 1), np.float32)),
    ValueError,
    r"reference_trajectories must have shape",
)
case(
    "shape",
    "Supervised data without window axis",
    lambda: configurations.Supervised(2)(_stepper(), jnp.zeros((2, N, 1))),
    ValueError,
    r"data must have shape \(B, W, \*spatial, C\) with 1 spatial axes \(4 axes\).*\(2, 16, 1\)",
)
case(
    "shape",
    "Supervised window too short",
    lambda: configurations.Supervised(2)(_stepper(), jnp.zeros((2, 2, N, 1))),
    ValueError,
    r"data must have a window length \(axis 1\) >= 3 for Supervised\(num_rollout_steps=2\)",
)
case(
    "shape",
    "TrajectoryWindows sub_trajectory_len > T+1",
    lambda: data.TrajectoryWindows(_traj(), 9),
    ValueError,
    r"sub_trajectory_len must be in \[1, T\+1\] = \[1, 5\]",
)
case(
    "shape",
    "TrajectoryWindows sub_trajectory_len=0",
    lambda: data.TrajectoryWindows(_traj(), 0),
    ValueError,
    r"sub_trajectory_len",
)


# -- 4. training configurations ---------------------------------------------------------------------

case(
    "configuration",
    "Supervised num_rollout_steps=0",
    lambda: configurations.Supervised(0),
    ValueError,
    r"num_rollout_steps must be >= 1",
)
case(
    "configuration",
    "Supervised num_rollout_steps=-1",
    lambda: configurations.Supervised(-1),
    ValueError,
    r"num_rollout_steps must be >= 1",
)
case(
    "configuration",
    "Supervised num_rollout_steps=True",
    lambda: configurations.Supervised(True),
    TypeError,
    r"num_rollout_steps must be an int",
)
case(
    "configuration",
    "Supervised num_rollout_steps=2.0",
    lambda: configurations.Supervised(2.0),
    TypeError,
    r"num_rollout_steps must be an int",
)
case(
    "configuration",
    "Supervised time_level_weights of the wrong length",
    lambda: configurations.Supervised(3, time_level_weights=(1.0, 1.0)),
    ValueError,
    r"time_level_weights",
)
case(
    "configuration",
    "Supervised cut_bptt_every=0",
    lambda: configurations.Supervised(3, cut_bptt_every=0),
    ValueError,
    r"cut_bptt_every must be >= 1",
)
case(
    "configuration",
    "DivertedChain num_branch_steps > num_rollout_steps",
    lambda: configurations.DivertedChain(3, 4),
    ValueError,
    r"num_branch_steps",
)
case(
    "configuration",
    "DivertedChain num_branch_steps=0",
    lambda: configurations.DivertedChain(3, 0),
    ValueError,
    r"num_branch_steps must be >= 1",
)
case(
    "configuration",
    "MixChainPostPhysics num_post_physics_steps=-1",
    lambda: configurations.MixChainPostPhysics(2, -1),
    ValueError,
    r"num_post_physics_steps must be >= [01]",
)
case(
    "configuration",
    "DivertedChainBranchOne without ref_stepper",
    lambda: configurations.DivertedChainBranchOne(2)(_stepper(), jnp.zeros((2, 1, N, 1))),
    ValueError,
    r"ref_stepper",
)
case(
    "configuration",
    "Residuum without residuum_fn",
    lambda: configurations.Residuum(2)(_stepper(), jnp.zeros((2, 1, N, 1))),
    ValueError,
    r"residuum_fn",
)
case(
    "configuration",
    "Supervised input_noise_std=nan",
    lambda: configurations.Supervised(2, input_noise_std=float("nan")),
    ValueError,
    r"input_noise_std",
)


# -- 5. optimizer and learning rate -----------------------------------------------------------------


def _default_config(variant=None) -> ml_collections.ConfigDict:
    return load_config("default", variant)


def _get_path(config, path: str):
    for key in path.split("."):
        config = config[key]
    return config


def _cli(**overrides) -> ml_collections.ConfigDict:
    """`configs/default.py` with `--config.<field>=<value>` overrides applied (type-checked as by
    `config_flags`)."""
    config = _default_config()
    config.lock()  # as `config_flags.DEFINE_config_file(..., lock_config=True)` in pipelines/train.py
    config.update_from_flattened_dict(overrides)
    return config


def _cli_raw(sections: dict) -> dict:
    """The default config as a plain dict with whole sections replaced (values `config_flags` would
    reject by type, to check that `validate_config` rejects them too)."""
    config = _default_config().to_dict()
    config.update(sections)
    return config


for value, label in (("-1", "-1"), ("0", "0"), ("nan", "nan"), ("inf", "inf")):
    case(
        "optimizer",
        f"--config.optimizer='adam;10_000;constant;{label}'",
        lambda v=value: validate_config(_cli(optimizer=f"adam;10_000;constant;{v}")),
        ValueError,
        r"config\.optimizer: LR of optimizer spec .* must be ",
    )
case(
    "optimizer",
    "--config.optimizer=True (type)",
    lambda: validate_config(_cli_raw({"optimizer": True})),
    TypeError,
    r"config\.optimizer must be a non-empty str, got True",
)
case(
    "optimizer",
    "--config.scenario.overrides.optim_config with a negative learning rate",
    lambda: validate_config(_cli(**{"scenario.overrides.optim_config": "adam;10_000;constant;-1.0"})),
    ValueError,
    r"config\.scenario\.overrides",
)
case(
    "optimizer",
    "--config.optimizer whose NUM_STEPS disagrees with --config.train.num_steps",
    lambda: validate_config(_cli(optimizer="adam;500;constant;1e-3")),
    ValueError,
    r"config\.optimizer: num_steps=10000 disagrees with NUM_STEPS=500",
)


# -- 6. run config (CLI flags) ----------------------------------------------------------------------


for field, value, error, message in (
    ("train.batch_size", 0, ValueError, "must be >= 1, got 0"),
    ("train.batch_size", -16, ValueError, "must be >= 1, got -16"),
    ("train.num_steps", 0, ValueError, "must be >= 1, got 0"),
    ("train.num_seeds", 0, ValueError, "must be >= 1, got 0"),
    ("train.data_seed", -1, ValueError, "must be >= 0, got -1"),
    ("train.worker_processes", -1, ValueError, "must be >= 0, got -1"),
    ("train.steps_per_dispatch", 0, ValueError, "must be >= 1, got 0"),
    ("train.log_every", 0, ValueError, "must be >= 1, got 0"),
    ("train.checkpoint_every", 0, ValueError, "must be >= 1, got 0"),
    ("train.checkpoint_every", -5, ValueError, "must be >= 1, got -5"),
    ("train.max_to_keep", 0, ValueError, "must be >= 1, got 0"),
    ("eval.every", 0, ValueError, "must be >= 1, got 0"),
    ("eval.num_steps", 0, ValueError, "must be >= 1, got 0"),
    ("eval.batch_size", 0, ValueError, "must be >= 1, got 0"),
    ("seed", -1, ValueError, "must be >= 0, got -1"),
    ("mesh.space", 0, ValueError, "must be >= 1, got 0"),
    ("scenario.overrides.advection_gamma", float("nan"), ValueError, "must be finite, got nan"),
    ("scenario.overrides.coarse_proportion", float("inf"), ValueError, "must be finite, got inf"),
    ("scenario.data_format", "csv", ValueError, "must be one of ('npy', 'array_record'), got 'csv'"),
    ("ref_stepper", "fine", ValueError, "must be one of ('reference', 'coarse'), got 'fine'"),
):
    case(
        "cli",
        f"--config.{field}={value}",
        lambda f=field, v=value: validate_config(_cli(**{f: v})),
        error,
        rf"config\.{re.escape(field)} {re.escape(message)}",
    )
for section, field, value, message in (
    ("train", "batch_size", True, "must be an int, got True"),
    ("train", "batch_size", 2.5, "must be an int, got 2.5"),
    ("train", "num_steps", "100", "must be an int, got '100'"),
    ("train", "tensorboard", 1, "must be True or False, got 1"),
    ("train", "progress_bar", "yes", "must be True or False, got 'yes'"),
    ("eval", "every", 2.0, "must be an int, got 2.0"),
):

    def bad_type(s=section, f=field, v=value):
        config = _cli_raw({})
        config[s][f] = v
        validate_config(config)

    case(
        "cli",
        f"--config.{section}.{field}={value!r} (type)",
        bad_type,
        TypeError,
        rf"config\.{section}\.{field} {re.escape(message)}",
    )


def _wrong_type(path: str):
    """A value of the wrong type for the schema field `path` and the exception it must raise."""
    if path in _SCHEMA_CHOICES:
        return 7, ValueError, "must be one of"
    default = dict(_SCHEMA_DEFAULTS)[path]
    if isinstance(default, bool):
        return 1, TypeError, "must be True or False, got 1"
    if isinstance(default, int) or path in _SCHEMA_INT_PLACEHOLDERS:
        return "7", TypeError, "must be an int, got '7'"
    return 7, TypeError, "must be a non-empty str, got 7"


def _with_leaf(path: str, value) -> dict:
    config = _cli_raw({})
    *sections, key = path.split(".")
    node = config
    for section in sections:
        node = node[section]
    node[key] = value
    return config


_SCHEMA_DEFAULTS = [
    (path, _get_path(default_config(), path)) for path in leaf_paths(default_config())
    if path != "scenario.overrides"
]
_SCHEMA_CHOICES = ("scenario.data_format", "ref_stepper")
_SCHEMA_INT_PLACEHOLDERS = {
    "distributed.num_processes", "distributed.process_id", "train.batch_size", "train.num_steps",
    "train.checkpoint_every", "eval.every", "eval.num_steps", "eval.batch_size",
}
for path, _ in _SCHEMA_DEFAULTS:
    value, error, message = _wrong_type(path)
    case(
        "cli",
        f"--config.{path}={value!r} (schema field of the wrong type)",
        lambda p=path, v=value: validate_config(_with_leaf(p, v)),
        error,
        rf"config\.{re.escape(path)} {re.escape(message)}",
    )
case(
    "cli",
    "--config.distributed=1 (a section replaced by a value)",
    lambda: validate_config(_cli_raw({"distributed": 1})),
    ValueError,
    r"config\.distributed is not a field of the experiment schema",
)
case(
    "cli",
    "--config.distributed.auto=1 (type)",
    lambda: validate_config(_cli_raw({"distributed": {**_cli_raw({})["distributed"], "auto": 1}})),
    TypeError,
    r"config\.distributed\.auto must be True or False, got 1",
)
case(
    "cli",
    "--config.distributed.num_processes=0",
    lambda: validate_config(_cli(**{"distributed.num_processes": 0})),
    ValueError,
    r"config\.distributed\.num_processes must be >= 1, got 0",
)
case(
    "cli",
    "--config.distributed.process_id=-1",
    lambda: validate_config(_cli(**{"distributed.process_id": -1})),
    ValueError,
    r"config\.distributed\.process_id must be >= 0, got -1",
)
case(
    "cli",
    "a field outside the schema",
    lambda: validate_config(_cli_raw({"num_rollout_steps": 3})),
    ValueError,
    r"config\.num_rollout_steps is not a field of the experiment schema",
)
case(
    "cli",
    "--config.network=None (required)",
    lambda: validate_config(_cli_raw({"network": None})),
    ValueError,
    r"config\.network must be set, got None",
)
case(
    "cli",
    "--config.train.num_steps not a multiple of steps_per_dispatch",
    lambda: validate_config(_cli(**{"train.num_steps": 10, "train.steps_per_dispatch": 4})),
    ValueError,
    r"config\.train\.num_steps must be a multiple of config\.train\.steps_per_dispatch \(4\), got 10",
)
case(
    "cli",
    "the scenario's NUM_STEPS not a multiple of steps_per_dispatch (train.num_steps None)",
    lambda: validate_config(_cli_raw({"train": {**_cli_raw({})["train"], "num_steps": None,
                                                "steps_per_dispatch": 3}})),
    ValueError,
    r"config\.train\.num_steps must be a multiple of config\.train\.steps_per_dispatch \(3\), got 10000",
)
case(
    "cli",
    "--config.eval.num_steps=50 beyond a shortened test horizon (20)",
    lambda: validate_config(_cli(**{"scenario.overrides.test_temporal_horizon": 20, "eval.num_steps": 50})),
    ValueError,
    r"config\.eval\.num_steps must be <= the test horizon "
    r"\(config\.scenario\.overrides\.test_temporal_horizon=20\), got 50",
)
case(
    "cli",
    "--config.method='sup;60' longer than the train horizon (50)",
    lambda: validate_config(_cli(method="sup;60")),
    ValueError,
    r"config\.method='sup;60' needs train windows of 61 time levels.*train_temporal_horizon=50",
)
case(
    "cli",
    "--config.method='mix;60;2' longer than the train horizon (50)",
    lambda: validate_config(_cli(method="mix;60;2")),
    ValueError,
    r"config\.method='mix;60;2' needs train windows of 63 time levels.*train_temporal_horizon=50",
)
case(
    "cli",
    "--config.eval.num_steps=300 longer than the test horizon (200)",
    lambda: validate_config(_cli(**{"eval.num_steps": 300})),
    ValueError,
    r"config\.eval\.num_steps must be <= the test horizon "
    r"\(config\.scenario\.overrides\.test_temporal_horizon=200\), got 300",
)
case(
    "cli",
    "--config.method='sup;0'",
    lambda: validate_config(_cli(method="sup;0")),
    ValueError,
    r"config\.method: T must be an integer >= 1, got 0",
)
case(
    "cli",
    "--config.method='bogus'",
    lambda: validate_config(_cli(method="bogus")),
    ValueError,
    r"config\.method: .*bogus",
)
case(
    "cli",
    "--config.method='divchain;2;3' (more branch steps than rollout steps)",
    lambda: validate_config(_cli(method="divchain;2;3")),
    ValueError,
    r"config\.method: B must be <= T=2, got 3",
)
case(
    "cli",
    "--config.scenario.name='bogus'",
    lambda: validate_config(_cli(**{"scenario.name": "bogus"})),
    ValueError,
    r"config\.scenario\.name: unknown scenario 'bogus'",
)
case(
    "cli",
    "--config.scenario.overrides.num_spatial_dims=4",
    lambda: validate_config(_cli(**{"scenario.overrides.num_spatial_dims": 4})),
    ValueError,
    r"config\.scenario\.overrides: num_spatial_dims must be one of \(1, 2, 3\)",
)
case(
    "cli",
    "--config.scenario.overrides.num_points=2",
    lambda: validate_config(_cli(**{"scenario.overrides.num_points": 2})),
    ValueError,
    r"config\.scenario\.overrides: num_points must be >= 4, got 2",
)
case(
    "cli",
    "--config.train.batch_size='16' through ml_collections",
    lambda: _cli(**{"train.batch_size": "16"}),
    TypeError,
    r"batch_size",
)
case(
    "cli",
    "--config.train.bogus (unknown field) through ml_collections",
    lambda: _cli(**{"train.bogus": 1}),
    KeyError,
    r"bogus",
)


# -- 7. data loading and the Trainer ----------------------------------------------------------------


def _tiny_model():
    return nn.Conv(1, 1, 1, kernel_size=3, use_bias=False, rngs=nnx.Rngs(0))


def _trainer(**kwargs):
    kwargs.setdefault("tensorboard", False)
    kwargs.setdefault("progress_bar", False)
    return Trainer(configurations.Supervised(2), optax.adam(1e-3), **kwargs)


case(
    "data",
    "make_loader batch_size=0",
    lambda: data.make_loader(data.TrajectoryWindows(_traj(), 2), batch_size=0),
    ValueError,
    r"batch_size must be >= 1",
)
case(
    "data",
    "make_loader batch_size=True",
    lambda: data.make_loader(data.TrajectoryWindows(_traj(), 2), batch_size=True),
    TypeError,
    r"batch_size must be an int",
)
case(
    "data",
    "make_loader shard_index >= shard_count",
    lambda: data.make_loader(data.TrajectoryWindows(_traj(), 2), batch_size=2, shard_index=2, shard_count=2),
    ValueError,
    r"shard_index",
)
case(
    "data",
    "load_trajectories of a missing path",
    lambda: data.load_trajectories(os.path.join(ROOT, "no-such-dataset")),
    FileNotFoundError,
    r"no-such-dataset",
)
case(
    "trainer",
    "Trainer steps_per_dispatch=0",
    lambda: _trainer(steps_per_dispatch=0),
    ValueError,
    r"steps_per_dispatch must be >= 1, got 0",
)
case(
    "trainer",
    "Trainer log_every=0",
    lambda: _trainer(log_every=0),
    ValueError,
    r"every_steps must be >= 1, got 0",
)
case(
    "trainer",
    "Trainer.fit num_steps not a multiple of steps_per_dispatch",
    lambda: _trainer(steps_per_dispatch=4, log_every=4).fit(_tiny_model(), iter([]), num_steps=6),
    ValueError,
    r"num_steps",
)
case(
    "trainer",
    "Trainer.fit model of the wrong type",
    lambda: _trainer().fit("not a model", iter([]), num_steps=1),
    TypeError,
    r"model must be an nnx\.Module",
)
case(
    "trainer",
    "Trainer.fit windows shorter than the rollout",
    lambda: _trainer().fit(_tiny_model(), iter([np.zeros((2, 2, N, 1), np.float32)] * 2), num_steps=1),
    ValueError,
    r"data windows must have length >= 3",
)


# -- 8. checkpoint directories and files ------------------------------------------------------------


def _checkpoint_case(name, body, error, match):
    case("checkpoint", name, body, error, match)


def _state():
    return TrainState.create(_tiny_model(), optax.adam(1e-3), key=0)


def _file_as_directory(tmp):
    path = os.path.join(tmp, "file")
    open(path, "w").close()
    Checkpointer(path)


def _restore_from_empty(tmp):
    Checkpointer(os.path.join(tmp, "empty")).restore(_state())


def _restore_other_structure(tmp):
    with Checkpointer(tmp) as checkpointer:
        checkpointer.save(_state())
    wide = TrainState.create(
        nn.Conv(1, 1, 1, kernel_size=5, use_bias=False, rngs=nnx.Rngs(0)), optax.adam(1e-3), key=0
    )
    Checkpointer(tmp).restore(wide)


def _restore_all_corrupt(tmp):
    with Checkpointer(tmp) as checkpointer:
        checkpointer.save(_state())
    os.remove(os.path.join(tmp, "0", "state", "_METADATA"))
    Checkpointer(tmp).restore(_state())


def _unwritable_at_save(tmp, monkeypatch):
    checkpointer = Checkpointer(tmp)
    mkdir = os.mkdir

    def denied(path, *args, **kwargs):
        if os.fspath(path).startswith(os.fspath(tmp)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", denied)
    checkpointer.save(_state())


def _uncreatable_directory(tmp, monkeypatch):
    makedirs = os.makedirs

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    monkeypatch.setattr(os, "makedirs", denied)
    try:
        Checkpointer(os.path.join(tmp, "new"))
    finally:
        monkeypatch.setattr(os, "makedirs", makedirs)


def _restore_config_of_missing_step(tmp):
    Checkpointer(tmp).restore_config(7)


def _trainer_workdir_is_a_file(tmp):
    path = os.path.join(tmp, "file")
    open(path, "w").close()
    _trainer(workdir=path).fit(_tiny_model(), iter([]), num_steps=1)


_checkpoint_case(
    "Checkpointer directory is a file",
    _file_as_directory,
    NotADirectoryError,
    r"checkpoint directory '.*/file' exists and is not a directory",
)
_checkpoint_case(
    "restore from a directory without checkpoints",
    _restore_from_empty,
    UnrestorableCheckpointError,
    r"no complete checkpoint in .*/empty",
)
_checkpoint_case(
    "restore onto another model width",
    _restore_other_structure,
    CheckpointMismatchError,
    r"params/kernel/value: shape \(3, 1, 1\) in the checkpoint, \(5, 1, 1\) in the model to restore",
)
_checkpoint_case(
    "restore when every checkpoint is corrupt",
    _restore_all_corrupt,
    UnrestorableCheckpointError,
    r"no checkpoint in .* can be restored: step 0: .*_METADATA",
)
_checkpoint_case(
    "save into an unwritable directory",
    _unwritable_at_save,
    CheckpointSaveError,
    r"saving the checkpoint of step 0 to '.*/0' failed: \[Errno 13\] Permission denied",
)
_checkpoint_case(
    "checkpoint directory cannot be created",
    _uncreatable_directory,
    CheckpointSaveError,
    r"checkpoint directory '.*/new' cannot be created: \[Errno 13\] Permission denied",
)
_checkpoint_case(
    "restore_config of a step that does not exist",
    _restore_config_of_missing_step,
    UnrestorableCheckpointError,
    r"no checkpoint of step 7 in ",
)
_checkpoint_case(
    "Trainer workdir is a file",
    _trainer_workdir_is_a_file,
    CheckpointSaveError,
    r"checkpoint directory '.*/file/checkpoints' cannot be created: \[Errno 20\] Not a directory",
)
case(
    "checkpoint",
    "Checkpointer directory=''",
    lambda: Checkpointer(""),
    TypeError,
    r"directory must be a non-empty path, got ''",
)
case(
    "checkpoint",
    "Checkpointer max_to_keep=0",
    lambda: Checkpointer(os.devnull + ".d", max_to_keep=0),
    ValueError,
    r"max_to_keep must be >= 1, got 0",
)


# -- 9. checks before work: strings, sizes and data directories against the scenario -----------------

DEFAULT_HORIZONS = {"train": 50, "test": 200}  # configs/default.py: diff_adv on 48 points, 1 channel


def _memory(monkeypatch, available=16e9):
    """The host's available memory fixed, so the size checks do not depend on the machine."""
    monkeypatch.setattr(schema, "available_memory_bytes", lambda: int(available))


def _validate_with_memory(monkeypatch, **overrides):
    _memory(monkeypatch)
    validate_config(_cli(**overrides))


def _split_dirs(tmp, *splits, metadata=True):
    for split in splits:
        os.makedirs(os.path.join(tmp, split))
        if metadata:
            data.save_trajectories(os.path.join(tmp, split), _traj(shape=(2, 3, 48, 1)))
    return tmp


for field, value, pattern in (
    ("network", "UNet;8;5;relu", r"LEVELS in architecture spec 'UNet;8;5;relu' .* must be 0\.\.4 "
                                 r"\(2\*\*LEVELS must divide num_points=48\), got 5"),
    ("network", "FNO;30;8;2;relu", r"MODES in architecture spec 'FNO;30;8;2;relu' .* must be 1\.\.24 "
                                   r"\(at most N/2 for num_points=48\), got 30"),
    ("network", "Pure;49", r"KERNEL_SIZE in architecture spec 'Pure;49' .* must be 1\.\.48"),
    ("network", "Conv;3;relu", r"architecture spec 'Conv;3;relu' must have the form Conv;WIDTH;DEPTH;ACT"),
    ("network", "Conv;0;2;relu", r"WIDTH in architecture spec 'Conv;0;2;relu' .* must be >= 1, got 0"),
    ("network", "Conv;8;2;nope", r"activation must be one of .*, got 'nope'"),
    ("network", "Bogus;8;2;relu", r"architecture name in spec 'Bogus;8;2;relu' must be one of"),
    ("network", "Stencil;2;sideways;0.4;0.5", r"ALIGNMENT in architecture spec .* must be one of "
                                              r"\('center', 'right', 'left'\), got 'sideways'"),
    ("task", "correct;bogus", r"task must be one of \('predict', .*'correct;tendency'\), "
                              r"got 'correct;bogus'"),
    ("task", "predict;now", r"task must be one of .*, got 'predict;now'"),
    ("method", "sup;x", r"T must be an integer >= 1, got 'x'"),
    ("method", "sup;3;4;5;6", r"term 'sup;3;4;5;6' must have the form sup;T\[;CUT\]"),
    ("optimizer", "rmsprop;10_000;constant;1e-3", r"OPTIMIZER of optimizer spec .* got 'rmsprop'"),
    ("optimizer", "adam;10_000;linear;1e-3", r"SCHEDULE of optimizer spec .* got 'linear'"),
    ("optimizer", "adam;ten;constant;1e-3", r"NUM_STEPS of optimizer spec .* must be an int, got 'ten'"),
    ("optimizer", "adam;10_000;warmup_cosine;0.0;1e-3;20_000",
     r"decay_steps must be > warmup_steps=20000 .*got 10000"),
):
    case(
        "cli",
        f"--config.{field}={value!r} refused before anything is built",
        lambda f=field, v=value: validate_config(_cli(**{f: v})),
        ValueError,
        rf"config\.{field}: {pattern}",
    )
case(
    "cli",
    "--config.scenario.overrides.num_points=49 with a U-Net of one halving (odd grid)",
    lambda: validate_config(_cli(network="UNet;8;1;relu", **{"scenario.overrides.num_points": 49})),
    ValueError,
    r"config\.network: LEVELS .* must be 0\.\.0 \(2\*\*LEVELS must divide num_points=49\), got 1",
)
for field in ("network", "task", "method", "scenario.name", "data_dir", "dataset_dir", "optimizer",
              "train.best_metric", "distributed.coordinator_address", "distributed.local_device_ids"):
    case(
        "cli",
        f"--config.{field}='' (empty)",
        lambda f=field: validate_config(_cli(**{f: ""})),
        TypeError,
        rf"config\.{re.escape(field)} must be a non-empty str, got ''",
    )
case(
    "cli",
    "--config.eval.num_steps=201, one beyond the test horizon (200)",
    lambda: validate_config(_cli(**{"eval.num_steps": 201})),
    ValueError,
    r"config\.eval\.num_steps must be <= the test horizon .*test_temporal_horizon=200\), got 201",
)
case(
    "cli",
    "--config.optimizer='adam' without NUM_STEPS and --config.train.num_steps None",
    lambda: validate_config(_with_leaf("train.num_steps", None) | {"optimizer": "adam"}),
    ValueError,
    r"config\.optimizer must have the form OPTIMIZER;NUM_STEPS;\.\.\. .* got 'adam'",
)
# 10**8 x 51 time levels x 48 points x 1 channel x 4 bytes = 979.2 GB; 10**8 x 201 x 48 x 4 = 3859.2 GB
for split, field, gigabytes in (
    ("train", "num_train_samples", "979.2"), ("test", "num_test_samples", "3859.2")
):
    case(
        "cli",
        f"--config.scenario.overrides.{field}=100000000 (the {split} set beyond the memory)",
        lambda monkeypatch, f=field: _validate_with_memory(
            monkeypatch, **{f"scenario.overrides.{f}": 100_000_000}
        ),
        ValueError,
        rf"config\.scenario\.overrides\.{field}=100000000: the {split} set needs {re.escape(gigabytes)} GB "
        rf"of memory \(100000000 samples x {DEFAULT_HORIZONS[split] + 1} time levels x 48\^1 points .*"
        rf"16\.0 GB are available; lower --config\.scenario\.overrides\.{field}",
    )
case(
    "cli",
    "--config.scenario.overrides.num_train_samples shared by --config.distributed.num_processes=4",
    lambda monkeypatch: _validate_with_memory(
        monkeypatch, **{"scenario.overrides.num_train_samples": 400_000_000, "distributed.num_processes": 4}
    ),
    ValueError,
    r"config\.scenario\.overrides\.num_train_samples=400000000: the train set needs 979\.2 GB .*"
    r"\(100000000 samples x 51",
)
case(
    "cli",
    "--config.scenario.overrides.num_test_samples shared by 4 processes with --config.eval.batch_size set",
    lambda monkeypatch: _validate_with_memory(monkeypatch, **{
        "scenario.overrides.num_test_samples": 400_000_000, "distributed.num_processes": 4,
        "eval.batch_size": 8,
    }),
    ValueError,
    r"config\.scenario\.overrides\.num_test_samples=400000000: the test set needs 3859\.2 GB .*"
    r"\(100000000 samples x 201",
)
case(
    "cli",
    "--config.data_dir of a missing directory",
    lambda tmp: validate_config(_cli(data_dir=os.path.join(tmp, "nowhere"))),
    FileNotFoundError,
    r"config\.data_dir='.*/nowhere': no such file or directory in /",
)
case(
    "cli",
    "--config.data_dir without a test split",
    lambda tmp: validate_config(_cli(data_dir=_split_dirs(tmp, "train"))),
    FileNotFoundError,
    r"config\.data_dir='.*': the test split '.*/test': path .* holds neither metadata",
)
case(
    "cli",
    "--config.data_dir whose train split holds no trajectories",
    lambda tmp: validate_config(_cli(data_dir=_split_dirs(tmp, "train", "test", metadata=False))),
    FileNotFoundError,
    r"config\.data_dir='.*': the train split '.*/train': path .* holds neither metadata\.json nor samples-\* "
    r"shards",
)


def _data_dir_with(tmp, train):
    """`tmp` as a data_dir whose test split is fine and whose train split `train(path)` writes."""
    _split_dirs(tmp, "test")
    train(os.path.join(tmp, "train"))
    return tmp


def _int_trajectories(path):
    data.save_trajectories(path, _traj(shape=(2, 3, 48, 1)))
    np.save(os.path.join(path, "trajectories.npy"), np.zeros((2, 3, 48, 1), np.int32))
    metadata = os.path.join(path, "metadata.json")
    with open(metadata) as file:
        text = file.read().replace('"<f4"', '"<i4"')
    with open(metadata, "w") as file:
        file.write(text)


def _bad_json(path):
    os.makedirs(path)
    with open(os.path.join(path, "metadata.json"), "w") as file:
        file.write("{not json")


for name, train, error, pattern in (
    ("train split of another grid (32 points)",
     lambda p: data.save_trajectories(p, _traj(shape=(2, 3, 32, 1))), ValueError,
     r"must have shape \(S, T\+1, \*spatial, C\) with \(\*spatial, C\) = \(48, 1\) .*got \(2, 3, 32, 1\)"),
    ("train split of int32 trajectories", _int_trajectories, TypeError,
     r"must hold real floating-point values .*got dtype int32"),
    ("train split whose metadata.json is not JSON", _bad_json, ValueError,
     r": invalid dataset metadata .*/train/metadata\.json: not valid JSON"),
):
    case(
        "cli",
        f"--config.data_dir with a {name}",
        lambda tmp, w=train: validate_config(_cli(data_dir=_data_dir_with(tmp, w))),
        error,
        rf"config\.data_dir='.*': the train split '.*/train'.*{pattern}",
    )
case(
    "cli",
    "--config.scenario.overrides=3 (not a mapping)",
    lambda: validate_config(_cli_raw({"scenario": {**_cli_raw({})["scenario"], "overrides": 3}})),
    TypeError,
    r"config\.scenario\.overrides must be a mapping of scenario fields, got 3",
)
case(
    "cli",
    "--config.scenario.overrides.bogus=1 (not a field of the scenario)",
    lambda: validate_config(_cli_raw({"scenario": {**_cli_raw({})["scenario"],
                                                   "overrides": {"bogus": 1}}})),
    ValueError,
    r"config\.scenario\.overrides: unknown field\(s\) \['bogus'\] for scenario 'diff_adv'",
)
for key, value, kind in (
    ("num_points", "48", "an int"), ("num_points", 48.0, "an int"), ("num_points", True, "an int"),
    ("batch_size", "20", "an int"), ("advection_gamma", "0.5", "a real number"),
    ("optim_config", 3, "a str"), ("ic_config", 5, "a str"),
):

    def bad_override(k=key, v=value):
        config = _cli_raw({})
        config["scenario"]["overrides"][k] = v
        validate_config(config)

    case(
        "cli",
        f"--config.scenario.overrides.{key}={value!r} (type, parsed strictly)",
        bad_override,
        TypeError,
        rf"config\.scenario\.overrides: {key} must be {kind}, got {re.escape(repr(value))} of type "
        rf"{type(value).__name__}",
    )
case(
    "cli",
    "--config.scenario.overrides.num_train_samples=0",
    lambda: validate_config(_cli(**{"scenario.overrides.num_train_samples": 0})),
    ValueError,
    r"config\.scenario\.overrides: num_train_samples must be >= 1, got 0",
)
case(
    "cli",
    "--config.scenario.overrides.train_temporal_horizon=0",
    lambda: validate_config(_cli(**{"scenario.overrides.train_temporal_horizon": 0})),
    ValueError,
    r"config\.scenario\.overrides: train_temporal_horizon must be >= 1, got 0",
)


def _locked_run(tmp):
    config = _cli(**{"train.num_steps": 4, "train.tensorboard": False, "train.progress_bar": False})
    with workdir_lock(tmp):
        experiment.train_and_evaluate(config, tmp)


def _second_lock(tmp):
    with workdir_lock(tmp), workdir_lock(tmp):
        pass


case(
    "workdir",
    "train_and_evaluate on a workdir another run holds",
    _locked_run,
    WorkdirLockedError,
    r"workdir .* is in use by the run of PID \d+ on .* since .*: wait for it to end or use another workdir",
)
case(
    "workdir",
    "workdir_lock taken twice",
    _second_lock,
    WorkdirLockedError,
    r"workdir .* is in use by the run of PID \d+",
)
case("workdir", "workdir_lock('')", lambda: workdir_lock("").__enter__(), TypeError,
     r"workdir must be a non-empty path, got ''")
case("workdir", "workdir_lock(3)", lambda: workdir_lock(3).__enter__(), TypeError,
     r"workdir must be a non-empty path, got 3")


def _full_disk(tmp, monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 0))
    scenarios.make("diff_adv", num_train_samples=3, num_test_samples=2).dataset(tmp)


case(
    "data",
    "Scenario.dataset on a full disk (nothing generated)",
    _full_disk,
    ValueError,
    # 3 samples x 51 time levels x 48 points x 4 bytes = 29,376 bytes
    r"num_train_samples=3: the train set needs 0\.0 GB on disk, .* has 0\.0 GB free; lower num_train_samples "
    r"or train_temporal_horizon",
)


# -- 10. method, network, task and optimizer strings through the public API --------------------------

for method, pattern in (
    ("bogus", r"unknown method 'bogus' \(term 'bogus'\)"),
    ("sup", r"term 'sup' must have the form sup;T\[;CUT\]"),
    ("sup;-1", r"T must be an integer >= 1, got -1"),
    ("divchain;2;3", r"B must be <= T=2, got 3"),
):
    case("string", f"from_method({method!r})", lambda m=method: configurations.from_method(m), ValueError,
         rf"{pattern} in training method '{re.escape(method)}'")
case("string", "from_method(3)", lambda: configurations.from_method(3), TypeError,
     r"spec must be a str such as 'sup;3', got 3")
for spec, kwargs, pattern in (
    ("Bogus;1;2;relu", {}, r"architecture name in spec 'Bogus;1;2;relu' must be one of"),
    ("Conv;x;2;relu", {}, r"WIDTH in architecture spec 'Conv;x;2;relu' .* must be an integer, got 'x'"),
    ("MLP;8;1;relu", {}, r"num_points in architecture spec 'MLP;8;1;relu' .* must be given"),
    ("Pure;4", {}, r"KERNEL_SIZE in architecture spec 'Pure;4' .* must be odd"),
    ("FNO;4;8;1;relu", {"boundary_mode": "dirichlet"},
     r"boundary_mode in architecture spec 'FNO;4;8;1;relu'"),
    ("Conv;8;2;relu", {"boundary_mode": "wrap"}, r"boundary_mode must be one of .*, got 'wrap'"),
):
    case("string", f"from_spec({spec!r}, {kwargs})",
         lambda s=spec, k=kwargs: nn.from_spec(s, 1, 1, 1, rngs=nnx.Rngs(0), **k), ValueError, pattern)
case("string", "from_spec(7)", lambda: nn.from_spec(7, 1, 1, 1, rngs=nnx.Rngs(0)), TypeError,
     r"spec must be a str such as 'Conv;34;10;relu', got 7")
case("string", "make_task_model('correct;bogus')",
     lambda: nn.make_task_model("correct;bogus", _tiny_model(), _stepper()), ValueError,
     r"task must be one of \('predict', .*\), got 'correct;bogus'")
case("string", "make_task_model('correct;parallel') without a coarse stepper",
     lambda: nn.make_task_model("correct;parallel", _tiny_model(), None), ValueError,
     r"coarse_stepper must be given for task 'correct;parallel', got None")
case("string", "make_task_model(3)", lambda: nn.make_task_model(3, _tiny_model()), TypeError,
     r"task must be a str, one of .*, got 3")
for spec, pattern in (
    ({"optimizer": "adam", "b1": 1.5, "learning_rate": 1e-3}, r"b1 must be in \[0, 1\), got 1\.5"),
    ({"optimizer": "adam", "b2": 2.0, "learning_rate": 1e-3}, r"b2 must be in \[0, 1\), got 2\.0"),
    ({"optimizer": "adam", "eps": -1.0, "learning_rate": 1e-3}, r"eps must be >= 0, got -1\.0"),
    ({"optimizer": "adamx", "learning_rate": 1e-3}, r"optimizer must be one of .*, got 'adamx'"),
    ({"optimizer": "adam"}, r"learning_rate must be given"),
    ({"optimizer": "adam", "learning_rate": {"schedule": "step"}},
     r"learning_rate\['schedule'\] must be one of"),
    ({"optimizer": "sgd", "nesterov": "maybe", "learning_rate": 1e-3}, r"nesterov must be a bool .*'maybe'"),
    ({"optimizer": "adam", "clip_global_norm": 0.0, "learning_rate": 1e-3}, r"clip_global_norm must be > 0"),
    ({"optimizer": "adam", "momentum": 0.9, "learning_rate": 1e-3}, r"unknown arguments \['momentum'\]"),
    ("adam;10_000;constant", r"the schedule of optimizer spec 'adam;10_000;constant' must have the form"),
):
    case("optimizer", f"make_optimizer({spec!r})", lambda s=spec: optimizers.make_optimizer(s), ValueError,
         pattern)
case("optimizer", "make_optimizer(3)", lambda: optimizers.make_optimizer(3), TypeError,
     r"spec must be an optimizer string or a mapping, got 3")


# -- 11. dataset sources: The Well and PDEBench -----------------------------------------------------


def _pdebench(tmp, array=None, name="tensor"):
    """A PDEBench file of the `tensor` layout (N, T, X), default 4 samples of 5 snapshots on 8 points."""
    path = os.path.join(tmp, "pdebench.hdf5")
    with h5py.File(path, "w") as file:
        file[name] = np.zeros((4, 5, 8), np.float32) if array is None else array
    return path


def _nan_window(tmp):
    array = np.zeros((4, 5, 8), np.float32)
    array[0, 3, 2] = np.nan
    data.PDEBenchWindows(_pdebench(tmp, array), window_length=2)[2]


def _two_fields(tmp):
    path = os.path.join(tmp, "pdebench.hdf5")
    with h5py.File(path, "w") as file:
        file["density"] = np.zeros((4, 5, 8), np.float32)
        file["pressure"] = np.zeros((4, 5, 16), np.float32)
    data.PDEBenchWindows(path, window_length=2)


def _empty_well_split(tmp):
    os.makedirs(os.path.join(tmp, "data", "train"))
    return tmp


for name, call, error, pattern in (
    ("missing path", lambda tmp: data.WellWindows(os.path.join(tmp, "nowhere"), "train", window_length=2),
     ValueError, r"split directory .*/nowhere/data/train does not exist"),
    ("split='validation'", lambda tmp: data.WellWindows(tmp, "validation", window_length=2),
     ValueError, r"split must be one of \('train', 'valid', 'test'\), got 'validation'"),
    ("window_length=0", lambda tmp: data.WellWindows(tmp, "train", window_length=0),
     ValueError, r"window_length must be >= 1, got 0"),
    ("dt_stride=0", lambda tmp: data.WellWindows(tmp, "train", window_length=2, dt_stride=0),
     ValueError, r"dt_stride must be >= 1, got 0"),
    ("normalization='minmax'",
     lambda tmp: data.WellWindows(tmp, "train", window_length=2, normalization="minmax"),
     ValueError, r"normalization must be one of \(None, 'zscore', 'rms'\), got 'minmax'"),
    ("min_std=0", lambda tmp: data.WellWindows(tmp, "train", window_length=2, min_std=0.0),
     ValueError, r"min_std must be > 0"),
    ("empty split directory",
     lambda tmp: data.WellWindows(_empty_well_split(tmp), "train", window_length=2),
     ValueError, r"split directory .*/data/train holds no \.h5 or \.hdf5 files"),
):
    case("source", f"WellWindows {name}", call, error, pattern)
for name, call, error, pattern in (
    ("missing file", lambda tmp: data.PDEBenchWindows(os.path.join(tmp, "none.hdf5"), window_length=2),
     ValueError, r"PDEBench file .*/none\.hdf5 does not exist"),
    ("split='valid'", lambda tmp: data.PDEBenchWindows(_pdebench(tmp), "valid", window_length=2),
     ValueError, r"split must be one of \('train', 'test'\), got 'valid'"),
    ("window longer than the trajectories", lambda tmp: data.PDEBenchWindows(_pdebench(tmp), window_length=6),
     ValueError, r"pdebench\.hdf5: trajectories of 5 snapshots are too short for window_length=6"),
    ("int32 data", lambda tmp: data.PDEBenchWindows(_pdebench(tmp, np.zeros((4, 5, 8), np.int32)),
                                                    window_length=2),
     TypeError, r"pdebench\.hdf5: dataset 'tensor' must hold real floating-point values .*got dtype int32"),
    ("NaN in a window", _nan_window,
     ValueError, r"pdebench\.hdf5.* holds NaN or Inf at time index 3"),
    ("test_fraction=1", lambda tmp: data.PDEBenchWindows(_pdebench(tmp), window_length=2, test_fraction=1.0),
     ValueError, r"test_fraction must be in \[0, 1\), got 1\.0"),
    ("empty test split", lambda tmp: data.PDEBenchWindows(_pdebench(tmp), "test", window_length=2,
                                                          test_fraction=0.0),
     ValueError, r"split 'test' with test_fraction=0\.0 holds none of the 4 samples"),
    ("no PDEBench layout", lambda tmp: data.PDEBenchWindows(_pdebench(tmp, name="u"), window_length=2),
     ValueError, r"pdebench\.hdf5: no PDEBench layout found"),
    ("fields of differing shapes", _two_fields,
     ValueError, r"pdebench\.hdf5: the fields' shapes disagree"),
):
    case("source", f"PDEBenchWindows {name}", call, error, pattern)


# -- 12. custom scenarios and study configs ---------------------------------------------------------


def _register_twice(monkeypatch):
    monkeypatch.setattr(scenarios.custom, "_FACTORIES", {})
    scenarios.register("census_twice", _CensusScenario)
    scenarios.register("census_twice", _CensusScenario)


@dataclasses.dataclass(frozen=True)
class _CensusScenario(scenarios.CustomScenario):
    name: str = "census_twice"


def _misnamed(monkeypatch):
    monkeypatch.setattr(scenarios.custom, "_FACTORIES", {})
    scenarios.register("census_misnamed", _CensusScenario)
    scenarios.make("census_misnamed")


def _unknown_field(monkeypatch):
    monkeypatch.setattr(scenarios.custom, "_FACTORIES", {})
    scenarios.register("census_twice", _CensusScenario)
    validate_config(_cli_raw({"scenario": {"name": "census_twice", "overrides": {"speed": 2.0},
                                           "data_format": "npy"}}))


for name, call, error, pattern in (
    ("register('')", lambda: scenarios.register("", _CensusScenario), TypeError,
     r"name must be a non-empty str, got ''"),
    ("register(3)", lambda: scenarios.register(3, _CensusScenario), TypeError,
     r"name must be a non-empty str, got 3"),
    ("register of a factory that is not callable", lambda: scenarios.register("census_x", 5), TypeError,
     r"factory must be callable \(overrides -> scenario\), got 5"),
    ("register a name twice", _register_twice, ValueError,
     r"name 'census_twice' is registered already; pass replace=True"),
    ("factory returning another name", _misnamed, ValueError,
     r"factory of 'census_misnamed' must return a scenario named 'census_misnamed'"),
    ("custom.make of an unregistered name", lambda: scenarios.custom.make("census_none"), ValueError,
     r"name must be one of the registered custom problems .*, got 'census_none'"),
    ("--config.scenario.overrides.speed of a registered scenario without it", _unknown_field, ValueError,
     r"config\.scenario\.overrides: unknown field\(s\) \['speed'\] for scenario 'census_twice'"),
):
    case("registry", name, call, error, pattern)


def _study(**changes):
    config = load_config("studies/apebench_1d", "quick")
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    return config


_RUN = study.Run("diff_adv", "predict", "Conv;8;2;relu", "one")
for name, changes, run, pattern in (
    ("train.batch_size=-4", {"train.batch_size": -4}, _RUN,
     r"config\.train\.batch_size must be >= 1, got -4"),
    ("eval.num_steps=50 beyond the test horizon (10)", {"eval.num_steps": 50}, _RUN,
     r"config\.eval\.num_steps must be <= the test horizon .*=10\), got 50"),
    ("networks=['UNet;8;6;relu'] too deep for 32 points", {},
     study.Run("diff_adv", "predict", "UNet;8;6;relu", "one"),
     r"config\.network: LEVELS .* must be 0\.\.5 \(2\*\*LEVELS must divide num_points=32\), got 6"),
    ("overrides.num_train_samples=100000000", {"overrides.num_train_samples": 100_000_000}, _RUN,
     r"config\.overrides\.num_train_samples=100000000: the train set needs .* GB of memory .*"
     r"lower --config\.overrides\.num_train_samples"),
    ("data_format='csv'", {"data_format": "csv"}, _RUN,
     r"config\.data_format must be one of \('npy', 'array_record'\), got 'csv'"),
    ("ref_stepper='fine'", {"ref_stepper": "fine"}, _RUN,
     r"config\.ref_stepper must be one of \('reference', 'coarse'\), got 'fine'"),
    ("train.log_every=0", {"train.log_every": 0}, _RUN, r"config\.train\.log_every must be >= 1, got 0"),
    ("seeds=[-1]", {"seeds": [-1]}, _RUN, r"config\.seeds entries must be ints >= 0, got -1"),
):
    prefix = "" if name.startswith("seeds") else rf"study run {re.escape(run.name)}: "
    case("study", f"study config {name}",
         lambda c=changes, r=run: study.run_config(_study(**c), r), ValueError, prefix + pattern)
for name, changes, pattern in (
    ("networks=[]", {"networks": []}, r"config\.networks must be a non-empty list of strings, got \(\)"),
    ("methods repeated", {"methods": ["one", "one"]}, r"config\.methods must not repeat an entry"),
    ("tasks=['']", {"tasks": [""]}, r"config\.tasks entries must be non-empty strings, got ''"),
):
    case("study", f"study config {name}", lambda c=changes: study.runs(_study(**c)), ValueError, pattern)


CATEGORY_COUNTS = collections.Counter(c.category for c in CASES)


def _param(c: Case):
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    return pytest.param(c, id=f"{c.category}: {c.name}", marks=marks)


@pytest.mark.parametrize("census_case", [_param(c) for c in CASES])
def test_bad_input_is_named(census_case, tmp_path, monkeypatch):
    c = census_case
    call = c.call
    parameters = getattr(call, "__code__", None)
    arguments = parameters.co_varnames[: parameters.co_argcount] if parameters else ()
    kwargs = {}
    if arguments[:1] == ("tmp",):
        call = lambda: c.call(str(tmp_path), *([monkeypatch] if "monkeypatch" in arguments else []))  # noqa: E731
    elif "monkeypatch" in arguments:
        kwargs["monkeypatch"] = monkeypatch
    with pytest.raises(c.error) as info:
        call(**kwargs)
    assert re.search(c.match, str(info.value)), (
        f"{c.error.__name__} message {str(info.value)!r} lacks {c.match!r}"
    )


def test_census_size_and_categories():
    assert len({(c.category, c.name) for c in CASES}) == len(CASES)  # every case is named once
    assert set(CATEGORY_COUNTS) == {
        "dtype",
        "physics",
        "shape",
        "configuration",
        "optimizer",
        "cli",
        "data",
        "trainer",
        "checkpoint",
        "workdir",
        "string",
        "source",
        "registry",
        "study",
    }
    # every field of the experiment schema has a case of its own
    named = {m.group(1) for c in CASES for m in [re.match(r"--config\.([\w.]+)", c.name)] if m}
    fields = set(leaf_paths(default_config())) - {"scenario.overrides"}  # each override: below
    assert any(name.startswith("scenario.overrides.") for name in named)
    assert fields <= named, sorted(fields - named)


def test_reliability_guide_counts_the_census():
    """docs/guides/reliability.md states the census's size and one row per category with its count."""
    with open(os.path.join(ROOT, "docs", "guides", "reliability.md")) as file:
        text = file.read()
    rows = dict(re.findall(r"^\| `(\w+)` \| .* \| (\d+) \| \d+ \|$", text, flags=re.MULTILINE))
    assert {category: int(count) for category, count in rows.items()} == dict(CATEGORY_COUNTS)
    stated = [int(n) for n in re.findall(r"(?:census (?:\(`tests/test_census.py`\) )?of|All) (\d+)", text)]
    assert stated == [len(CASES)] * 3  # the opening, "All N pass" and the test list


@pytest.mark.parametrize("variant", [None, "quick"])
def test_shipped_default_config_passes_validation(variant):
    config = _default_config(variant)
    assert validate_config(config) is None
    assert validate_config(_cli(**{"eval.batch_size": None})) is None  # optional: the whole test set
    # validation only reads the config: its resolved copy is what training uses, the config is unchanged
    assert config.to_dict() == _default_config(variant).to_dict()
    with pytest.raises(ValueError, match=r"config\.train\.batch_size must be >= 1, got 0"):
        validate_config(_cli(**{"train.batch_size": 0}))
