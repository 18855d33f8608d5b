"""Metric writers: TensorBoard event files read back by TensorBoard's own reader, the log-only writer,
metrics.jsonl, config.json, member_scalars and split_eval_results."""

import io
import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from absl import logging
from PIL import Image
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

from emutrain.train import tensorboard as tb
from emutrain.train import writers


def _read(logdir):
    """TensorBoard's plugin event accumulator over `logdir` (every event kept)."""
    accumulator = plugin_event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _values(accumulator, tag):
    return [(event.step, tensor_util.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]


def test_scalars_round_trip_with_plugin_and_steps(tmp_path):
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_scalars(1, {"loss": 0.5, "lr": np.float32(0.25)})
    writer.write_scalars(7, {"loss": np.array(0.125), "count": 3})
    writer.close()
    events = _read(str(tmp_path))
    assert sorted(events.PluginTagToContent("scalars")) == ["count", "loss", "lr"]
    loss = _values(events, "loss")
    assert [step for step, _ in loss] == [1, 7]
    assert [value.item() for _, value in loss] == [0.5, 0.125]
    assert all(value.dtype == np.float32 and value.shape == () for _, value in loss)
    assert _values(events, "lr")[0][0] == 1 and _values(events, "lr")[0][1] == np.float32(0.25)
    assert [(s, v.item()) for s, v in _values(events, "count")] == [(7, 3.0)]
    assert os.path.basename(writer.path).startswith("events.out.tfevents.")


def test_scalar_that_is_not_a_number_is_rejected_by_name(tmp_path):
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    with pytest.raises(ValueError, match=r"'curve'.*shape \(3,\)"):
        writer.write_scalars(1, {"curve": np.zeros(3)})
    writer.close()


def test_images_round_trip_exact_pixels(tmp_path):
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3) * 3  # (N, H, W, C) uint8
    gray = np.array([[0.0, 0.5], [1.0, 2.0], [-1.0, np.nan]])[..., None]  # (H, W, 1) float
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_images(5, {"rgb": rgb, "gray": gray})
    writer.close()
    events = _read(str(tmp_path))
    assert sorted(events.PluginTagToContent("images")) == ["gray", "rgb"]
    ((step, strings),) = _values(events, "rgb")
    assert step == 5 and strings.shape == (4,)
    assert strings[0] == b"4" and strings[1] == b"3"  # width, height as tf.summary.image writes them
    for i in range(2):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(strings[2 + i]))), rgb[i])
    ((_, strings),) = _values(events, "gray")
    # tf.summary.image's float mapping: saturating cast of x * 255.5 (0.5 -> 127), NaN -> 0
    expected = np.array([[0, 127], [255, 255], [0, 0]], np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(strings[2]))), expected)


def test_image_shape_and_dtype_are_checked():
    with pytest.raises(ValueError, match="'bad'.*C in"):
        tb.image_to_uint8("bad", np.zeros((4, 4, 2)))
    with pytest.raises(TypeError, match="'ints'.*int32"):
        tb.image_to_uint8("ints", np.zeros((4, 4, 1), np.int32))


def test_histograms_round_trip_tensorboard_buckets(tmp_path):
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_histograms(
        3,
        {"ramp": np.arange(10.0), "constant": np.full(4, 2.5), "default": np.array([0.0, 1.0, np.inf])},
        num_buckets={"ramp": 5, "constant": 3},
    )
    writer.close()
    events = _read(str(tmp_path))
    assert sorted(events.PluginTagToContent("histograms")) == ["constant", "default", "ramp"]
    ((step, ramp),) = _values(events, "ramp")
    # width 9 / 5 = 1.8: [0, 1.8) holds 0, 1; ...; the last bucket also holds the maximum 9
    expected = np.array([[0, 1.8, 2], [1.8, 3.6, 2], [3.6, 5.4, 2], [5.4, 7.2, 2], [7.2, 9.0, 2]])
    assert step == 3 and np.allclose(ramp, expected, rtol=0, atol=1e-12)
    ((_, constant),) = _values(events, "constant")
    assert np.array_equal(constant, [[2.5, 2.5, 0], [2.5, 2.5, 0], [2.5, 2.5, 4]])
    ((_, default),) = _values(events, "default")
    assert default.shape == (tb.DEFAULT_NUM_BUCKETS, 3) and default[:, 2].sum() == 2  # inf dropped
    assert default[0, 2] == 1 and default[-1, 2] == 1


def test_histogram_buckets_match_tensorboards_histogram_pb():
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb

    data = np.random.default_rng(0).normal(size=1000)
    expected = tensor_util.make_ndarray(histogram_pb("x", data, buckets=17).value[0].tensor)
    assert np.array_equal(tb.histogram_buckets(data, 17), expected)


def test_texts_and_hparams_round_trip(tmp_path):
    config = ml_collections.ConfigDict({"lr": 1e-3, "model": {"width": 32, "act": "relu"}, "seeds": (1, 2)})
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_texts(2, {"note": "grid N=48", "other": "ü"})
    writer.write_hparams({"config": config, "resume": False, "tag": None, "x": np.float32(0.5)})
    writer.close()
    events = _read(str(tmp_path))
    assert [(s, v.item()) for s, v in _values(events, "note")] == [(2, "grid N=48".encode())]
    assert _values(events, "other")[0][1].item().decode() == "ü"
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert {name: value.WhichOneof("kind") for name, value in hparams.items()} == {
        "config.lr": "number_value",
        "config.model.width": "number_value",
        "config.model.act": "string_value",
        "config.seeds.0": "number_value",
        "config.seeds.1": "number_value",
        "resume": "bool_value",
        "tag": "string_value",
        "x": "number_value",
    }
    assert hparams["config.lr"].number_value == 1e-3 and hparams["config.model.width"].number_value == 32
    assert hparams["config.model.act"].string_value == "relu" and hparams["tag"].string_value == ""
    assert hparams["config.seeds.1"].number_value == 2 and hparams["x"].number_value == 0.5


def test_write_summaries_raw_tensor_with_metadata(tmp_path):
    from tensorboard.compat.proto import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="custom", content=b"abc")
    )
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_summaries(
        4, {"raw": np.arange(6, dtype=np.int32).reshape(2, 3)}, metadata={"raw": metadata.SerializeToString()}
    )
    writer.close()
    events = _read(str(tmp_path))
    assert events.PluginTagToContent("custom") == {"raw": b"abc"}
    ((step, raw),) = _values(events, "raw")
    assert step == 4 and raw.dtype == np.int32 and np.array_equal(raw, np.arange(6).reshape(2, 3))


def test_flush_makes_events_readable_before_close(tmp_path):
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    for step in range(100):
        writer.write_scalars(step, {"loss": float(step)})
    writer.flush()
    assert [v.item() for _, v in _values(_read(str(tmp_path)), "loss")] == list(map(float, range(100)))
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write_scalars(100, {"loss": 1.0})


def test_error_on_the_writer_thread_reaches_the_caller(tmp_path):
    writer = tb.TensorBoardWriter(tmp_path, log_scalars=False)
    writer.write_texts(1, {"bad": "x"})
    writer._events.add(2, lambda: 1 / 0)  # a summary that fails to build on the thread
    with pytest.raises(RuntimeError, match="writing TensorBoard events") as info:
        writer.flush()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    writer.close()


def test_scalars_are_logged_as_one_compact_line(tmp_path):
    records = []

    class Capture(logging.logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    capture = Capture()
    logging.get_absl_logger().addHandler(capture)
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    try:
        writer = tb.TensorBoardWriter(tmp_path)
        writer.write_scalars(12, {"loss": 0.00123456789, "a": 2})
        writer.close()
        writers.LogWriter().write_scalars(3, {"x": np.float32(1.5)})
        writers.LogWriter(log_scalars=False).write_scalars(4, {"x": 1.0})
    finally:
        logging.set_verbosity(verbosity)
        logging.get_absl_logger().removeHandler(capture)
    assert records == ["[12] a=2, loss=0.00123457", "[3] x=1.5"]


def test_make_writer_kinds(tmp_path):
    tensorboard_writer = writers.make_writer(tmp_path / "tb", tensorboard=True, process_index=0)
    assert isinstance(tensorboard_writer, tb.TensorBoardWriter)
    tensorboard_writer.close()
    assert isinstance(writers.make_writer(tmp_path, tensorboard=False, process_index=0), writers.LogWriter)
    assert isinstance(writers.make_writer(None, tensorboard=True, process_index=0), writers.LogWriter)
    other = writers.make_writer(tmp_path / "other", tensorboard=True, metrics_jsonl=True, process_index=1)
    assert isinstance(other, writers.LogWriter) and not other.log_scalars
    assert not (tmp_path / "other").exists()  # processes other than 0 write no files
    for method in (
        "write_summaries",
        "write_scalars",
        "write_images",
        "write_histograms",
        "write_texts",
        "write_hparams",
        "write_videos",
        "write_audios",
        "flush",
        "close",
    ):
        assert callable(getattr(tensorboard_writer, method)) and callable(getattr(other, method))


def test_metrics_jsonl_round_trip_and_append(tmp_path):
    writer = writers.make_writer(tmp_path, tensorboard=True, metrics_jsonl=True, process_index=0)
    assert isinstance(writer, writers.JsonlWriter) and isinstance(writer.writer, tb.TensorBoardWriter)
    writer.write_scalars(10, {"loss": 0.5, "loss/member_0": np.float32(0.25)})
    writer.write_images(10, {"img": np.zeros((2, 2, 1))})  # passed through, not in the JSON file
    writer.write_scalars(20, {"nrmse": np.array(0.125), "bad": float("nan")})
    writer.close()
    writer = writers.make_writer(tmp_path, tensorboard=False, metrics_jsonl=True, process_index=0)
    writer.write_scalars(30, {"loss": 1})  # a resumed run appends
    writer.close()
    records = writers.read_metrics_jsonl(tmp_path / writers.METRICS_FILE)
    assert [r["step"] for r in records] == [10, 20, 30]
    assert {k: v for k, v in records[0].items() if k != "wall_time"} == {
        "step": 10,
        "loss": 0.5,
        "loss/member_0": 0.25,
    }
    assert records[1]["nrmse"] == 0.125 and np.isnan(records[1]["bad"]) and records[2]["loss"] == 1.0
    assert records[0]["wall_time"] <= records[1]["wall_time"] <= records[2]["wall_time"]
    events = _read(str(tmp_path))
    assert [(s, v.item()) for s, v in _values(events, "loss")] == [(10, 0.5)]
    assert sorted(events.PluginTagToContent("images")) == ["img"]


def test_metrics_jsonl_rejects_reserved_names_and_reports_bad_lines(tmp_path):
    writer = writers.JsonlWriter(writers.LogWriter(log_scalars=False), tmp_path / "m.jsonl")
    with pytest.raises(ValueError, match="reserved"):
        writer.write_scalars(1, {"step": 1.0})
    writer.close()
    (tmp_path / "m.jsonl").write_text('{"step": 1}\n{"step": \n')
    with pytest.raises(ValueError, match=r"m\.jsonl line 2"):
        writers.read_metrics_jsonl(tmp_path / "m.jsonl")


def test_write_config_json_round_trip(tmp_path):
    config = ml_collections.ConfigDict()
    config.seed = 3
    config.train = ml_collections.ConfigDict({"lr": 1e-3, "rollout": 4, "tensorboard": True})
    config.train.window = ml_collections.FieldReference(5)
    config.sizes = (16, 32)
    config.name = None
    config.scale = np.float32(0.5)
    path = writers.write_config_json(tmp_path / "run", config, process_index=0)
    assert path == os.path.join(tmp_path / "run", "config.json")
    with open(path) as file:
        loaded = json.load(file)
    assert loaded == {
        "seed": 3,
        "train": {"lr": 1e-3, "rollout": 4, "tensorboard": True, "window": 5},
        "sizes": [16, 32],
        "name": None,
        "scale": 0.5,
    }
    assert ml_collections.ConfigDict(loaded).train.lr == config.train.lr
    assert writers.write_config_json(tmp_path / "other", config, process_index=1) is None
    assert not (tmp_path / "other").exists()


def test_member_scalars_exact():
    assert writers.member_scalars({"loss": np.float32(0.5), "norm": np.array([1.0, 2.0, 4.5])}) == {
        "loss": 0.5,
        "norm": 2.5,
        "norm/member_0": 1.0,
        "norm/member_1": 2.0,
        "norm/member_2": 4.5,
    }
    with pytest.raises(
        ValueError, match=r"metric m must be a scalar or \(num_members,\), got shape \(2, 2\)"
    ):
        writers.member_scalars({"m": np.zeros((2, 2))})


def test_split_eval_results_exact():
    image = np.ones((4, 5, 3))
    batch = np.zeros((2, 4, 5, 1))
    curve = np.array([0.1, 0.2])
    scalars, images, arrays = writers.split_eval_results(
        {"nrmse": np.float32(0.25), "count": 3, "img": image, "imgs": batch, "curve": curve}
    )
    assert scalars == {"nrmse": 0.25, "count": 3} and type(scalars["count"]) is int
    assert images.keys() == {"img", "imgs"}
    assert images["img"].shape == (1, 4, 5, 3) and np.array_equal(images["img"][0], image)
    assert images["imgs"] is not None and np.array_equal(images["imgs"], batch)
    assert arrays.keys() == {"curve"} and np.array_equal(arrays["curve"], curve)


def test_writers_import_no_tensorflow():
    code = (
        "import sys, tempfile\n"
        "from emutrain.train import writers\n"
        "w = writers.make_writer(tempfile.mkdtemp(), tensorboard=True, process_index=0)\n"
        "w.write_scalars(1, {'x': 1.0}); w.write_images(1, {'i': __import__('numpy').zeros((2, 2, 1))})\n"
        "w.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'"
        " or m.startswith('clu.metric_writers') or m.startswith('clu.periodic_actions')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_tfrecord_framing_equals_tensorboards_record_writer():
    from tensorboard.summary.writer.record_writer import RecordWriter

    for data in (b"", b"x", bytes(range(256)) * 300):
        buffer = io.BytesIO()
        RecordWriter(buffer).write(data)
        assert tb.tfrecord(data) == buffer.getvalue()
