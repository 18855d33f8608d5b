"""Experiments on public datasets (`config.dataset`): training on a tiny Well-format directory and a tiny
PDEBench file, its first loss against the hand-computed loss on the same windows, the evaluation's
trajectories, nRMSE and VRMSE against hand-computed values, the CLI, configs/dataset.py and bad input."""

import csv
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import h5py
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from emutrain import evaluate, experiment, nn, study
from emutrain.config_files import load_config
from emutrain.physics import metrics
from emutrain.schema import default_config, leaf_paths, resolve_config, validate_config

# ml_collections loads config files with the deprecated load_module()
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

REPO = pathlib.Path(__file__).resolve().parents[1]
NETWORK = "Conv;4;1;relu"


def _writers(name):
    """The HDF5 writers of the data-source tests (tests/data/<name>.py)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "data" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


well_writers = _writers("test_data_well")
pdebench_writers = _writers("test_data_pdebench")


@pytest.fixture
def well_root(tmp_path):
    """Train, valid and test splits of two files each: 3 trajectories of 9 snapshots, 2 of 7."""
    root = tmp_path / "toy_well"
    for split in ("train", "valid", "test"):
        well_writers.make_dataset(root, split=split)
    return root


@pytest.fixture
def pdebench_file(tmp_path):
    """The tensor layout: 10 samples of 8 snapshots on 16 points; the last one is the test split."""
    return pdebench_writers.write_tensor(tmp_path / "toy_advection.hdf5")


def _config(kind, path, method="one", **dataset):
    config = load_config("dataset", f"{kind},{path},{NETWORK},{method},quick")
    config.update_from_flattened_dict({f"dataset.{key}": value for key, value in dataset.items()})
    config.train.num_steps = 4
    config.optimizer = "adam;4;constant;1e-3"
    config.eval.every = 2
    config.train.checkpoint_every = 4
    return config


def _hand_loss(config, batch):
    """The one-step MSE of the freshly initialised network on the windows `batch` (B, 2, *spatial, C)."""
    model = experiment.build_model(resolve_config(config))
    return float(jnp.mean(jnp.square(model(jnp.asarray(batch[:, 0])) - batch[:, 1])))


@pytest.mark.parametrize("kind", ["well", "pdebench"])
def test_a_run_trains_on_streamed_windows_and_writes_the_evaluations(
    kind, well_root, pdebench_file, tmp_path
):
    path = well_root if kind == "well" else pdebench_file
    config = _config(kind, path)
    first_batch = next(iter(experiment.build_loader(resolve_config(config))))
    result = experiment.train_and_evaluate(config, tmp_path / "run")
    # the first step's loss is the initial network's loss on the loader's first windows
    np.testing.assert_allclose(result.losses[0], _hand_loss(config, first_batch), rtol=1e-5)
    assert np.all(np.isfinite(result.losses)) and len(result.losses) == 4
    channels = 8 if kind == "well" else 1
    arrays = np.load(tmp_path / "run" / "eval" / "step_4.npz")
    assert arrays["vrmse_per_step"].shape == (2, channels)  # eval.num_steps = 2 in quick
    assert arrays["sample_vrmse"].shape == (2 if kind == "well" else 1, 2, channels)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "eval/vrmse" in r]
    assert [r["step"] for r in evaluated] == [2, 4]
    assert {"eval/vrmse_steps_1-1", "eval/nrmse_step_1", "eval/gmean_nrmse_2"} <= set(evaluated[-1])
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["dataset"]["kind"] == kind


def test_the_evaluation_trajectories_are_the_test_splits_first_states(pdebench_file, well_root):
    config = resolve_config(_config("pdebench", pdebench_file))
    with h5py.File(pdebench_file) as f:
        expected = f["tensor"][9:, :3][..., None]  # 10 samples, test_fraction 0.1: sample 9, 2 steps
    np.testing.assert_array_equal(experiment.build_test_trajectories(config), expected)
    # what pipelines/evaluate.py reads as the test set
    np.testing.assert_array_equal(experiment.build_trajectories(config, "test"), expected)
    with pytest.raises(ValueError, match="split must be 'test' with config.dataset.kind='pdebench'"):
        experiment.build_trajectories(config, "train")
    config = _config("well", well_root, dt_stride=2, eval_split="valid", num_test_trajectories=4)
    config = resolve_config(config)
    test = experiment.build_test_trajectories(config)
    files = sorted((well_root / "data" / "valid").glob("*.hdf5"))  # a.hdf5 (2 trajectories), b.hdf5
    direct = [well_writers.direct_window(files[i], j, 0, 3, 2) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))]
    np.testing.assert_array_equal(test, np.stack(direct))


def test_normalization_and_fields_reach_the_network_the_loader_and_the_evaluation(well_root):
    stats = well_writers.write_stats(well_root)
    config = resolve_config(_config("well", well_root, normalization="zscore", fields="velocity,density"))
    assert experiment.build_scenario(config).field_names == ["density", "velocity_x", "velocity_y"]
    assert experiment.build_network(config)(jnp.zeros((1, 6, 5, 3))).shape == (1, 6, 5, 3)
    assert next(iter(experiment.build_loader(config))).shape == (4, 2, 6, 5, 3)
    mean = np.concatenate([np.ravel(stats["mean"][name]) for name in ("density", "velocity")])
    std = np.concatenate([np.ravel(stats["std"][name]) for name in ("density", "velocity")])
    first = sorted((well_root / "data" / "test").glob("*.hdf5"))[0]
    raw = well_writers.direct_window(first, 0, 0, 3, 1)[..., [0, 2, 3]]  # density, velocity_x, velocity_y
    test = experiment.build_test_trajectories(config)
    np.testing.assert_allclose(test[0], (raw - mean) / std, rtol=1e-5, atol=1e-5)


def test_evaluation_nrmse_and_vrmse_equal_the_hand_computed_values(pdebench_file):
    config = resolve_config(_config("pdebench", pdebench_file))
    test = experiment.build_test_trajectories(config)  # 1 sample, 2 steps
    evaluation = experiment.build_eval_fn(config, test)(lambda x: 0.5 * x)
    scalars = evaluation.scalars()
    predictions = np.stack([0.5 * test[:, 0], 0.25 * test[:, 0]], axis=1)
    nrmse = np.asarray(metrics.nrmse(predictions, test[:, 1:], batch_ndim=2))
    np.testing.assert_allclose(evaluation.metrics.sample_nrmse, nrmse, rtol=1e-5)
    np.testing.assert_allclose(scalars["eval/nrmse_step_1"], nrmse[:, 0].mean(), rtol=1e-5)
    u, v = predictions[:, 0, :, 0].astype(np.float64), test[:, 1, :, 0].astype(np.float64)
    by_hand = np.sqrt(np.mean((u - v) ** 2, axis=1) / (np.var(v, axis=1, ddof=1) + 1e-7))
    np.testing.assert_allclose(scalars["eval/vrmse_steps_1-1"], by_hand.mean(), rtol=1e-5)
    np.testing.assert_allclose(scalars["eval/vrmse_channel_0_steps_1-1"], by_hand.mean(), rtol=1e-5)


def test_vrmse_of_predicting_zero_on_zero_mean_data_is_almost_one():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 32, 16, 2))
    v -= v.mean(axis=(1, 2), keepdims=True)
    n = 32 * 16
    # the spatial mean as the prediction: mse = biased variance, so sqrt((n - 1) / n) up to eps
    np.testing.assert_allclose(evaluate.vrmse(np.zeros_like(v), v), np.sqrt((n - 1) / n), rtol=1e-6)
    assert np.all(evaluate.vrmse(v, v) == 0)
    # constant fields: sqrt(mse / eps)
    np.testing.assert_allclose(evaluate.vrmse(np.ones((1, 4, 1)), np.zeros((1, 4, 1))), 1 / np.sqrt(1e-7))


def test_vrmse_time_windows_are_the_wells_steps_1_6_to_12_and_13_to_30():
    steps = np.arange(1, 31, dtype=np.float64)
    sample = np.stack([steps, 10 * steps], axis=-1)[None]  # (1, 30, 2): field b is ten times field a
    scalars = evaluate.FieldMetrics(("a", "b"), sample).scalars()
    assert scalars["eval/vrmse_a_steps_1-1"] == 1 and scalars["eval/vrmse_b_steps_1-1"] == 10
    assert scalars["eval/vrmse_a_steps_6-12"] == 9  # mean of 6..12
    assert scalars["eval/vrmse_a_steps_13-30"] == 21.5  # mean of 13..30
    assert scalars["eval/vrmse_steps_13-30"] == 5.5 * 21.5  # the mean over both fields
    assert scalars["eval/vrmse"] == 5.5 * 15.5
    # a window longer than the rollout is left out, not clipped
    assert "eval/vrmse_steps_13-30" not in evaluate.FieldMetrics(("a", "b"), sample[:, :12]).scalars()


@pytest.mark.parametrize("kind", ["well", "pdebench"])
def test_the_command_line_trains_on_a_dataset(kind, well_root, pdebench_file, tmp_path):
    path = well_root if kind == "well" else pdebench_file
    result = subprocess.run(
        [sys.executable, str(REPO / "pipelines" / "train.py"),
         f"--config=configs/dataset.py:{kind},{path},quick", f"--workdir={tmp_path / 'cli'}",
         "--config.network=Conv;4;1;relu", "--config.train.num_steps=4",
         "--config.optimizer=adam;4;constant;1e-3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "cli" / "eval" / "step_4.npz").is_file()
    assert "vrmse" in (tmp_path / "cli" / "metrics.jsonl").read_text()


def test_worker_processes_train_on_the_batches_the_threads_read(well_root, tmp_path):
    """`--config.train.worker_processes=2`: two Grain worker processes read the batches; the loss, the
    gradient and parameter norms and every evaluation are those of the in-process run with prefetch
    threads."""
    experiment.train_and_evaluate(_config("well", well_root), tmp_path / "threads")
    result = subprocess.run(
        [sys.executable, str(REPO / "pipelines" / "train.py"),
         f"--config=configs/dataset.py:well,{well_root},{NETWORK},one,quick", f"--workdir={tmp_path / 'cli'}",
         "--config.train.num_steps=4", "--config.optimizer=adam;4;constant;1e-3", "--config.eval.every=2",
         "--config.train.checkpoint_every=4", "--config.train.worker_processes=2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "leaked shared_memory" not in result.stderr

    def values(run):
        records = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        keep = ("eval/", "loss", "grad_norm", "param_norm")
        return {(r["step"], k): v for r in records for k, v in r.items() if k.startswith(keep)}

    workers, threads = values("cli"), values("threads")
    assert workers.keys() == threads.keys() and (4, "loss") in workers
    np.testing.assert_allclose([workers[k] for k in threads], list(threads.values()), rtol=1e-6)


def test_dataset_configs_have_the_schemas_fields_and_validate(well_root, pdebench_file):
    for variant in (f"well,{well_root}", f"pdebench,{pdebench_file},Res;8;1;relu,sup;2,quick"):
        config = load_config("dataset", variant)
        assert list(leaf_paths(config)) == list(leaf_paths(default_config()))
        validate_config(config)
    config = load_config("dataset", f"well,{well_root}")
    assert (config.network, config.method, config.task) == ("UNet;12;2;relu", "one", "predict")
    resolved = resolve_config(config)
    assert resolved.eval.num_steps == 6  # the shortest test trajectory has 7 snapshots
    resolved.network = NETWORK  # the 6 x 5 grid does not halve twice for the U-Net
    network = experiment.build_network(resolved)
    assert network(jnp.zeros((1, 6, 5, 8))).shape == (1, 6, 5, 8)
    for variant in ("well", "netcdf,/data/x", f"well,{well_root},a,b,c"):
        with pytest.raises(ValueError, match="variant must be KIND,PATH"):
            load_config("dataset", variant)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"dataset.path": None}, r"config\.dataset\.path must be set"),
        ({"dataset.path": "/no/such/file.hdf5"}, r"config\.dataset\.path must be a file"),
        ({"task": "correct;sequential"}, r"config\.task must be 'predict'"),
        ({"method": "div;2"}, r"config\.method='div;2' needs a reference stepper"),
        ({"method": "sup;8"}, r"config\.method='sup;8' needs train windows of 9 time levels.*have 8"),
        ({"dataset.dt_stride": 4, "method": "sup;2"}, r"'sup;2' needs train windows.*dt_stride=4"),
        ({"eval.num_steps": 8}, r"config\.eval\.num_steps must be <="),
        ({"dataset.eval_split": "valid"}, r"config\.dataset\.eval_split must be one of \('test',\)"),
        ({"dataset.kind": "zarr"}, r"config\.dataset\.kind must be one of"),
        ({"dataset.eval_split": "train"}, r"config\.dataset\.eval_split must be one of \('test', 'valid'\)"),
        ({"dataset.dt_stride": 0}, r"config\.dataset\.dt_stride must be >= 1"),
        ({"dataset.normalization": "minmax"}, r"config\.dataset\.normalization must be one of"),
    ],
)
def test_bad_dataset_configs_raise_one_error_naming_the_field(changes, message, pdebench_file):
    config = _config("pdebench", pdebench_file)
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_an_empty_field_list_is_a_type_error(pdebench_file):
    config = _config("pdebench", pdebench_file)
    config.dataset.fields = ""
    with pytest.raises(TypeError, match=r"config\.dataset\.fields must be a non-empty str, got ''"):
        validate_config(config)


def test_the_default_config_still_trains_on_its_scenario():
    config = load_config("default")
    assert config.dataset.kind == "scenario" and config.dataset.path is None
    validate_config(config)


def _study_config(scenarios, **dataset):
    """A one-seed, one-network study of 4 steps over `scenarios`, evaluated over 2 steps."""
    config = load_config("studies/apebench_1d", "quick")
    config.scenarios = tuple(scenarios)
    config.networks = (NETWORK,)
    config.seeds = (0,)
    config.optimizer = "adam;4;constant;1e-3"
    config.train.update(num_steps=4, batch_size=4, log_every=2, checkpoint_every=4, tensorboard=False)
    config.eval.num_steps = 2
    config.dataset = ml_collections.ConfigDict({"num_test_trajectories": 2, **dataset})
    config.plots = False
    return config


def test_a_study_scenario_naming_a_well_dataset_gives_the_metric_of_a_single_run(well_root, tmp_path):
    well_writers.write_stats(well_root)
    config = _study_config([f"well,{well_root}"], normalization="zscore")
    (run,) = study.run_study(config, tmp_path / "study", progress_bar=False)
    assert run.scenario == f"well,{well_root}"
    with open(tmp_path / "study" / "summary.csv", newline="") as file:
        (row,) = list(csv.DictReader(file))
    assert (row["scenario"], row["network"], row["num_steps"]) == (f"well,{well_root}", NETWORK, "4")
    # the same combination as one experiment: its config, trained and evaluated by train_and_evaluate
    rc = study.run_config(config, run)
    assert (rc.dataset.kind, rc.dataset.path, rc.dataset.normalization) == ("well", str(well_root), "zscore")
    result = experiment.train_and_evaluate(rc, tmp_path / "single")
    records = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    (evaluated,) = [r for r in records if "eval/gmean_nrmse_2" in r]
    assert evaluated["step"] == 4
    assert float(row["gmean_nrmse"]) == pytest.approx(evaluated["eval/gmean_nrmse_2"], rel=1e-4)
    assert float(row["final_loss"]) == pytest.approx(np.mean(result.losses[-2:]), rel=1e-4)


def test_a_study_refuses_a_dataset_entry_with_more_than_a_path(well_root, tmp_path):
    config = _study_config([f"well,{well_root},{NETWORK}"])
    with pytest.raises(ValueError, match=r"config\.scenarios entries naming a dataset must be 'KIND,PATH'"):
        study.run_study(config, tmp_path / "study", progress_bar=False)
    config = _study_config(["well,"])
    with pytest.raises(ValueError, match=r"config\.scenarios.*must be spelled 'well,PATH', got 'well,'"):
        study.run_study(config, tmp_path / "study", progress_bar=False)


def _zero_on_conditioning(plain, conditioned):
    """`conditioned` (an `nn.Conditioned`) with `plain`'s parameters, zero on the conditioning inputs."""

    def pad(small, large):
        out = np.zeros(large.shape, np.float32)
        out[tuple(slice(0, n) for n in small.shape)] = small
        return jnp.asarray(out)

    state = jax.tree.map(pad, nnx.state(plain, nnx.Param), nnx.state(conditioned.network, nnx.Param))
    nnx.update(conditioned.network, state)
    return conditioned


def test_conditioning_feeds_constant_fields_and_scalars_to_the_network_only_as_inputs(well_root, tmp_path):
    config = resolve_config(_config("well", well_root, conditioning=True))
    plain_config = resolve_config(_config("well", well_root))
    model = experiment.build_model(config)
    assert isinstance(model, nn.Conditioned) and model.num_conditioning == 3  # mask, scalars a and b
    assert experiment.predicted_channels(config) == 8 and experiment.predicted_channels(plain_config) is None
    batch = next(iter(experiment.build_loader(config)))
    plain_batch = next(iter(experiment.build_loader(plain_config)))
    assert batch.shape == (4, 2, 6, 5, 8 + 3)
    np.testing.assert_array_equal(batch[..., :8], plain_batch)  # the same windows, conditioning appended
    np.testing.assert_array_equal(batch[:, 0, ..., 8:], batch[:, 1, ..., 8:])
    # the loss compares the predicted channels only
    loss = experiment.build_configuration(config)(model, jnp.asarray(batch))
    hand = jnp.mean(jnp.square(model(jnp.asarray(batch[:, 0]))[..., :8] - batch[:, 1, ..., :8]))
    np.testing.assert_allclose(loss, hand, rtol=1e-6)
    # zero weights on the conditioning: the loss and the evaluation of the network without it
    plain = experiment.build_model(plain_config)
    model = _zero_on_conditioning(plain, model)
    plain_loss = experiment.build_configuration(plain_config)(plain, jnp.asarray(plain_batch))
    conditioned_loss = experiment.build_configuration(config)(model, jnp.asarray(batch))
    np.testing.assert_allclose(conditioned_loss, plain_loss, rtol=1e-5)
    test = experiment.build_test_trajectories(config)
    plain_test = experiment.build_test_trajectories(plain_config)
    np.testing.assert_array_equal(test[..., :8], plain_test)
    ours = experiment.build_eval_fn(config, test)(model)
    theirs = experiment.build_eval_fn(plain_config, plain_test)(plain)
    np.testing.assert_allclose(ours.metrics.sample_nrmse, theirs.metrics.sample_nrmse, rtol=1e-5)
    np.testing.assert_allclose(ours.fields.sample_vrmse, theirs.fields.sample_vrmse, rtol=1e-5)
    assert ours.predictions.shape == theirs.predictions.shape  # the kept rollouts: the 8 predicted channels
    # a whole run trains and evaluates the 8 predicted channels
    experiment.train_and_evaluate(_config("well", well_root, conditioning=True), tmp_path / "run")
    assert np.load(tmp_path / "run" / "eval" / "step_4.npz")["vrmse_per_step"].shape == (2, 8)


def test_conditioning_is_a_bool_for_the_well_only(well_root, pdebench_file):
    message = r"config\.dataset\.conditioning=True needs config\.dataset\.kind='well'"
    with pytest.raises(ValueError, match=message):
        validate_config(_config("pdebench", pdebench_file, conditioning=True))
    config = ml_collections.ConfigDict(_config("well", well_root).to_dict(), type_safe=False)
    config.dataset.conditioning = 1  # as a config file or a mapping may hold it
    with pytest.raises(TypeError, match=r"config\.dataset\.conditioning must be True or False, got 1"):
        validate_config(config)
