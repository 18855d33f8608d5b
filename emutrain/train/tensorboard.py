"""TensorBoard event files without TensorFlow.

`TensorBoardWriter` has the method set of CLU's `clu.metric_writers.interface.MetricWriter` (duck-typed:
importing anything under `clu.metric_writers` imports TensorFlow, so the class cannot subclass it). Its
summaries have the layouts `tf.summary` writes (TensorBoard's TensorFlow-free helpers `text_pb` and
`hparams_pb`, its plugins' metadata, the bucket rule of `histogram_pb`) and go as TFRecords (checksums
by the C `google_crc32c`) into a file opened with plain `open`: TensorBoard's `EventFileWriter` goes
through `tensorboard.compat.tf`, which imports TensorFlow wherever it is installed (e.g. on Colab).

The caller's thread only converts values to host numpy, checks them, logs scalars and enqueues; a background
thread encodes (protobuf, PNG, CRC) and writes, so a `write_scalars` call costs microseconds.
"""

from __future__ import annotations

import atexit
import io
import itertools
import os
import queue
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import google_crc32c
import numpy as np
from absl import logging
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.util import tensor_util

DEFAULT_NUM_BUCKETS = 30  # TensorBoard's and tf.summary.histogram's default

_SCALAR_METADATA = scalar_metadata.create_summary_metadata(display_name=None, description=None)
_file_counter = itertools.count()
_STOP = object()


def _masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord as TensorBoard reads it: length (uint64), masked CRC-32C of the length, the data,
    masked CRC-32C of the data (little-endian). The C CRC-32C costs 0.05 ms for 100 kB where the pure
    Python one of TensorBoard's `RecordWriter` costs 14 ms, all of it holding the GIL."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc32c(header)) + data + struct.pack("<I", _masked_crc32c(data))


def format_scalars(step: int, scalars: Mapping[str, float]) -> str:
    """One compact log line: `[step] a=1, b=0.5` (names sorted, 6 significant digits)."""
    return f"[{step}] " + ", ".join(f"{k}={v:.6g}" for k, v in sorted(scalars.items()))


def to_scalars(scalars: Mapping[str, Any]) -> dict[str, float]:
    """`{name: float}` from Python numbers or 0-d (host or device) arrays; ValueError names a non-scalar."""
    out = {}
    for name, value in scalars.items():
        array = np.asarray(value)
        if array.shape != () or array.dtype.kind not in "biuf":
            raise ValueError(
                f"scalar {name!r} must be a real number or 0-d array, got shape {array.shape} "
                f"and dtype {array.dtype}"
            )
        out[name] = float(array)
    return out


def image_to_uint8(name: str, image: Any) -> np.ndarray:
    """`(N, H, W, C)` uint8 from an `(H, W, C)` or `(N, H, W, C)` image with C in (1, 3, 4): uint8 is kept,
    floats in [0, 1] map like `tf.summary.image` (saturating cast of `x * 255.5`; NaN -> 0)."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"image {name!r} must have shape (H, W, C) or (N, H, W, C) with C in (1, 3, 4), got {array.shape}"
        )
    if array.dtype == np.uint8:
        return np.array(array)  # a copy: the caller may reuse its buffer before the thread encodes it
    if array.dtype.kind != "f":
        raise TypeError(
            f"image {name!r} must be uint8 or floating (values in [0, 1]), got dtype {array.dtype}"
        )
    return np.clip(np.nan_to_num(array * 255.5, nan=0.0), 0, 255).astype(np.uint8)


def histogram_buckets(data: Any, num_buckets: int = DEFAULT_NUM_BUCKETS) -> np.ndarray:
    """`(num_buckets, 3)` rows `(left, right, count)` by TensorBoard's rule (`histogram_pb`): equal-width
    buckets over [min, max], the maximum in the last bucket; constant data puts every count in the last
    bucket with both edges at the value; no data gives zeros. Non-finite values are dropped."""
    values = np.asarray(data, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if num_buckets == 0 or values.size == 0:
        return np.zeros((num_buckets, 3))
    low, high = values.min(), values.max()
    if high == low:
        counts = np.zeros(num_buckets)
        counts[-1] = values.size
        return np.stack([np.full(num_buckets, low), np.full(num_buckets, low), counts], axis=1)
    # bincount instead of histogram_pb's (size, buckets) one-hot matrix: same counts, O(size) memory
    index = np.minimum(
        np.floor((values - low) / ((high - low) / num_buckets)).astype(np.int64), num_buckets - 1
    )
    counts = np.bincount(index, minlength=num_buckets).astype(np.float64)
    edges = np.linspace(low, high, num_buckets + 1)
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


def flatten_hparams(hparams: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """Flat `{"a.b": value}` like CLU's writers: nested mappings (and ConfigDicts) joined by dots, list
    items by index, None -> "", numpy scalars -> Python scalars, anything else -> its `str`."""
    flat = {}
    for key, value in hparams.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) or hasattr(value, "items"):
            flat.update(flatten_hparams(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat.update(flatten_hparams({str(i): v for i, v in enumerate(value)}, name + "."))
        elif value is None:
            flat[name] = ""
        elif isinstance(value, np.generic):
            flat[name] = value.item()
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def _scalar_summary(values: Mapping[str, float]) -> summary_pb2.Summary:
    # `scalar_pb`'s layout (a float32 0-d tensor) built directly: make_tensor_proto costs 50 us a value
    summary = summary_pb2.Summary()
    for name, value in values.items():
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[value]
        )
        summary.value.add(tag=name, metadata=_SCALAR_METADATA, tensor=tensor)
    return summary


def _encode_png(image: np.ndarray) -> bytes:
    from PIL import Image  # imported only when images are written

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def _image_summary(name: str, images: np.ndarray) -> summary_pb2.Summary:
    # tf.summary.image's layout: a string tensor [width, height, png_0, ..., png_{N-1}]
    height, width = images.shape[1:3]
    strings = [str(width).encode(), str(height).encode(), *(_encode_png(image) for image in images)]
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name,
        metadata=image_metadata.create_summary_metadata(display_name=None, description=None),
        tensor=tensor_util.make_tensor_proto(strings, dtype=np.object_),
    )
    return summary


def _histogram_summary(name: str, buckets: np.ndarray) -> summary_pb2.Summary:
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name,
        metadata=histogram_metadata.create_summary_metadata(display_name=None, description=None),
        tensor=tensor_util.make_tensor_proto(buckets, dtype=np.float64),
    )
    return summary


def _merge(summaries: list[summary_pb2.Summary]) -> summary_pb2.Summary:
    merged = summary_pb2.Summary()
    for summary in summaries:
        merged.value.extend(summary.value)
    return merged


class _EventFile:
    """An event file `events.out.tfevents.<time>.<host>.<pid>.<n>` in `logdir`, written by a daemon thread
    that builds each event's summary, appends it as a TFRecord and flushes the file whenever its queue runs
    empty. An error on the thread is raised by the next `add`, `flush` or `close`."""

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
            f"{next(_file_counter)}"
        )
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "wb")
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="tensorboard-writer", daemon=True)
        self._thread.start()
        header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        self._queue.put(lambda: header)

    def add(self, step: int, build: Callable[[], summary_pb2.Summary]) -> None:
        """Enqueues one event at `step` whose summary `build()` makes on the thread."""
        self._raise_error()
        if self._closed:
            raise ValueError(f"event file {self.path} is closed")
        wall_time = time.time()
        self._queue.put(lambda: event_pb2.Event(wall_time=wall_time, step=int(step), summary=build()))

    def flush(self) -> None:
        """Blocks until every event enqueued so far is on disk."""
        if not self._closed:
            self._queue.join()
        self._raise_error()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
            self._file.close()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"writing TensorBoard events to {self.path} failed") from error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:  # after an error: drain the queue so flush() cannot hang
                    self._file.write(tfrecord(item().SerializeToString()))
                    if self._queue.empty():
                        self._file.flush()
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self._error = error
            finally:
                self._queue.task_done()


def _close_at_exit(reference: weakref.ref) -> None:
    writer = reference()
    if writer is not None:
        writer.close()


class TensorBoardWriter:
    """CLU-style metric writer (the method set of `clu.metric_writers.interface.MetricWriter`, duck-typed
    because that module imports TensorFlow) writing TensorBoard event files in `logdir` without TensorFlow.

    Scalars are float32 tensors (`tf.summary.scalar`'s layout) and, if `log_scalars`, also one log line per
    call; images `(H, W, C)` / `(N, H, W, C)` are PNG-encoded like `tf.summary.image`; histograms use
    TensorBoard's bucket rule; hyperparameters go to the HParams dashboard flattened like CLU's writers.
    `write_videos` and `write_audios` only warn once, like CLU's TensorFlow writer does for videos.
    Writing is asynchronous: `flush` waits until everything written so far is on disk.
    """

    def __init__(self, logdir: str | os.PathLike, *, log_scalars: bool = True):
        self.logdir = os.fspath(logdir)
        self.log_scalars = log_scalars
        self._events = _EventFile(self.logdir)
        self._warned: set[str] = set()
        # A weak reference: an exiting interpreter still writes what is queued, yet the writer can be freed.
        atexit.register(_close_at_exit, weakref.ref(self))

    @property
    def path(self) -> str:
        """The event file."""
        return self._events.path

    def write_summaries(
        self, step: int, values: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Raw tensors; `metadata[name]` is a `SummaryMetadata` proto or its serialized bytes."""
        summary = summary_pb2.Summary()
        for name, value in values.items():
            entry = None if metadata is None else metadata.get(name)
            if isinstance(entry, bytes):
                entry = summary_pb2.SummaryMetadata.FromString(entry)
            summary.value.add(tag=name, metadata=entry, tensor=tensor_util.make_tensor_proto(np.array(value)))
        self._events.add(step, lambda: summary)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        values = to_scalars(scalars)
        if not values:
            return
        if self.log_scalars:
            logging.info("%s", format_scalars(step, values))
        self._events.add(step, lambda: _scalar_summary(values))

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        converted = {name: image_to_uint8(name, image) for name, image in images.items()}
        if converted:
            self._events.add(step, lambda: _merge([_image_summary(n, x) for n, x in converted.items()]))

    def write_histograms(
        self, step: int, arrays: Mapping[str, Any], num_buckets: Mapping[str, int] | None = None
    ) -> None:
        buckets = {}
        for name, array in arrays.items():
            count = DEFAULT_NUM_BUCKETS if num_buckets is None else num_buckets.get(name, DEFAULT_NUM_BUCKETS)
            buckets[name] = histogram_buckets(array, count)
        if buckets:
            self._events.add(step, lambda: _merge([_histogram_summary(n, b) for n, b in buckets.items()]))

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        texts = {name: str(text) for name, text in texts.items()}
        if texts:
            self._events.add(step, lambda: _merge([text_pb(name, text) for name, text in texts.items()]))

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Hyperparameters (nested mappings allowed) for TensorBoard's HParams dashboard, at step 0; also
        one log line if `log_scalars`."""
        flat = flatten_hparams(hparams)
        if self.log_scalars:
            logging.info("[hyperparameters] %s", flat)
        self._events.add(0, lambda: hparams_pb(flat))

    def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
        del step, videos
        self._warn_once("videos")

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        del step, audios, sample_rate
        self._warn_once("audios")

    def flush(self) -> None:
        self._events.flush()

    def close(self) -> None:
        self._events.close()

    def _warn_once(self, kind: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logging.warning("TensorBoardWriter does not write %s; they are dropped", kind)
