"""Grain random-access source of windows over a dataset of The Well, read lazily from its HDF5 files.

A Well dataset directory holds ``data/{train,valid,test}/*.hdf5`` (layout in
:mod:`emutrain.data.well_format`) and ``stats.yaml``. Item ``i`` is the window ``(W, *spatial, C)`` of
the time-varying fields, flattened channels-last in The Well's order (scalar fields, then vectors, then
tensors, each in its file's ``field_names`` order). Items run over the files sorted by path, then their
trajectories, then the window start times ``0, 1, ...`` (each window's snapshots ``dt_stride`` apart):
the order and content of the_well's ``WellDataset(n_steps_input=1, n_steps_output=W-1,
min_dt_stride=dt_stride, max_dt_stride=dt_stride)`` with input and output joined along time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from emutrain.data.hdf5 import (
    Hyperslab,
    LazyH5Files,
    check_finite,
    check_finite_window,
    empty_batch,
    num_window_starts,
    read_slab,
    time_slice,
)
from emutrain.data.well_format import (
    WellField,
    WellFileLayout,
    check_same_layout,
    load_well_stats,
    read_well_layout,
)
from emutrain.validation import check_choice, check_int, check_real

__all__ = ["WellWindows"]

SPLITS = ("train", "valid", "test")
NORMALIZATIONS = (None, "zscore", "rms")


@dataclasses.dataclass(frozen=True, eq=False)
class _FieldRead:
    """How one field of every window of a batch is read: its hyperslab (``slab``), the starts of the
    axes after time (``tail``), its channels of the window, its normalization ``(*tensor)`` if any."""

    field: WellField
    slab: Hyperslab
    tail: tuple[int, ...]
    channels: range
    shift: np.ndarray | None
    scale: np.ndarray | None


def _split_files(root: Path, split: str) -> list[str]:
    directory = root / "data" / split
    if not directory.is_dir():
        raise ValueError(
            f"split directory {directory} does not exist; a Well dataset holds "
            "data/{train,valid,test}/*.hdf5"
        )
    files = sorted(str(p) for pattern in ("*.h5", "*.hdf5") for p in directory.glob(pattern))
    if not files:
        raise ValueError(f"split directory {directory} holds no .h5 or .hdf5 files")
    return files


def _select_fields(
    fields: tuple[WellField, ...], names: list[str] | None, path: str
) -> tuple[WellField, ...]:
    varying = tuple(f for f in fields if f.time_varying)
    if names is None:
        return varying
    available = [f.name for f in varying]
    unknown = [name for name in names if name not in available]
    if isinstance(names, str) or unknown or not names:
        raise ValueError(
            f"fields must be a non-empty list of time-varying fields of {path}, {available}; got {names!r}"
        )
    return tuple(f for f in varying if f.name in names)


def _channel_stats(
    stats: dict[str, tuple[np.ndarray, np.ndarray]], fields: tuple[WellField, ...], stats_path: Path
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per channel ``(C,)`` shift and scale from the per-field statistics (None without normalization)."""
    if not stats:
        return None, None
    flat = {0: [], 1: []}
    for field in fields:
        count = len(field.channels)
        for k in (0, 1):
            values = np.ravel(stats[field.name][k])
            if values.size not in (1, count):
                raise ValueError(
                    f"{stats_path}: statistics of field {field.name!r} have {values.size} values, expected 1 "
                    f"or one per component ({count})"
                )
            flat[k].append(np.broadcast_to(values, (count,)))
    return np.concatenate(flat[0]), np.concatenate(flat[1])


class WellWindows:
    """Windows ``(window_length, *spatial, C)`` float32 of a Well dataset split, streamed from HDF5.

    Args:
      path: the dataset directory (holding ``data/<split>/`` and ``stats.yaml``).
      split: ``"train"``, ``"valid"`` or ``"test"``.
      window_length: snapshots per window ``W >= 1``.
      dt_stride: time steps between the snapshots of a window.
      normalization: None, ``"zscore"`` (``(x - mean) / max(std, min_std)``) or ``"rms"``
        (``x / max(rms, min_std)``) with the per-field statistics of ``stats.yaml``, as the_well applies
        them; constant fields in :meth:`conditioning` are normalized alike.
      fields: the time-varying fields to keep (names as in the files, e.g. ``["density", "velocity"]``);
        None keeps all. They keep The Well's order whatever the order given.
      min_std: floor of the normalization scale (the_well's default).
      conditioning: if True, each window also holds, after its ``C`` field channels, ``K`` channels of
        what its trajectory is conditioned on and which a network takes as input without predicting it
        (:class:`emutrain.nn.Conditioned`): the constant fields, normalized like the fields, then the
        constant scalars broadcast over space (:attr:`conditioning_names`), the same at every time level.
        Windows are then ``(W, *spatial, C + K)``.

    Raises:
      ValueError: a missing split directory or statistics file, files of a split that disagree in grid,
        fields or shapes, a window longer than a trajectory, a non-cartesian ``grid_type``, an unknown
        boundary type; when reading, a window holding NaN or Inf (naming file, trajectory, time index).
      TypeError: non-floating-point fields or scalars (naming the file and dataset).

    Only file paths and metadata are held: each process opens its own read-only handles on first read,
    so the source pickles (Grain worker processes) and its memory does not grow with the dataset.
    """

    def __init__(
        self,
        path: str | Path,
        split: str,
        *,
        window_length: int,
        dt_stride: int = 1,
        normalization: str | None = None,
        fields: list[str] | None = None,
        min_std: float = 1e-4,
        conditioning: bool = False,
    ) -> None:
        root = Path(path)
        if not isinstance(conditioning, bool):
            raise TypeError(f"conditioning must be a bool, got {conditioning!r}")
        self.with_conditioning = conditioning
        check_choice("split", split, SPLITS)
        self.window_length = check_int("window_length", window_length, minimum=1)
        self.dt_stride = check_int("dt_stride", dt_stride, minimum=1)
        self.normalization = check_choice("normalization", normalization, NORMALIZATIONS)
        min_std = check_real("min_std", min_std, positive=True)
        paths = _split_files(root, split)
        layouts = [read_well_layout(p) for p in paths]
        check_same_layout(layouts)
        self.layout: WellFileLayout = layouts[0]
        self.fields = _select_fields(self.layout.fields, fields, paths[0])
        self.constant_fields = tuple(f for f in self.layout.fields if not f.time_varying)
        self._starts = np.array(
            [num_window_starts(x.path, x.num_steps, self.window_length, self.dt_stride) for x in layouts]
        )
        self._trajectories = np.array([x.num_trajectories for x in layouts])
        self._offsets = np.concatenate([[0], np.cumsum(self._trajectories * self._starts)])
        self._stats = (
            load_well_stats(root / "stats.yaml", normalization, self.fields + self.constant_fields, min_std)
            if normalization
            else {}
        )
        self._files = LazyH5Files(paths)
        widths = np.cumsum([0] + [len(f.channels) for f in self.fields])
        self._channels = [slice(a, b) for a, b in zip(widths[:-1], widths[1:])]
        self._num_channels = int(widths[-1]) + (len(self.conditioning_names) if conditioning else 0)
        self._shift, self._scale = _channel_stats(self._stats, self.fields, root / "stats.yaml")

    # -- description ---------------------------------------------------------------------------------

    @property
    def files(self) -> tuple[str, ...]:
        """The split's files, in item order."""
        return self._files.paths

    @property
    def num_trajectories(self) -> int:
        return int(self._trajectories.sum())

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.layout.spatial_shape

    @property
    def field_names(self) -> list[str]:
        """Channel names of the windows, e.g. ``["density", "velocity_x", "velocity_y"]``."""
        return [name for field in self.fields for name in field.channels]

    @property
    def constant_field_names(self) -> list[str]:
        return [name for field in self.constant_fields for name in field.channels]

    @property
    def scalar_names(self) -> list[str]:
        return [s.name for s in self.layout.scalars if s.time_varying]

    @property
    def constant_scalar_names(self) -> list[str]:
        return [s.name for s in self.layout.scalars if not s.time_varying]

    @property
    def conditioning_names(self) -> list[str]:
        """Names of the conditioning channels that ``conditioning=True`` appends to the windows: the
        constant fields' channels, then the constant scalars."""
        return self.constant_field_names + self.constant_scalar_names

    @property
    def boundary_conditions(self) -> tuple[tuple[str, str], ...]:
        """Per spatial axis ``(low, high)``, each ``"periodic"``, ``"wall"`` or ``"open"``."""
        return self.layout.boundary_conditions

    @property
    def boundary_mode(self) -> str | None:
        """The one boundary kind of every side (``"periodic"``, ``"wall"``, ``"open"``), None if mixed."""
        kinds = {kind for pair in self.boundary_conditions for kind in pair}
        return kinds.pop() if len(kinds) == 1 else None

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __repr__(self) -> str:
        return (
            f"WellWindows({self.layout.dataset_name!r}, files={len(self.files)}, "
            f"trajectories={self.num_trajectories}, window_length={self.window_length}, "
            f"dt_stride={self.dt_stride}, channels={self.field_names}, num_windows={len(self)})"
        )

    # -- reading -------------------------------------------------------------------------------------

    def locate(self, index: int) -> tuple[int, int, int]:
        """``(file, trajectory, start)`` of window ``index``: the file's position in :attr:`files`, the
        trajectory within that file and the window's first time index."""
        index = check_int("index", index)
        file, trajectory, start = self._locate(np.array([index]))
        return int(file[0]), int(trajectory[0]), int(start[0])

    def _locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`locate` of the windows ``indices`` ``(B,)``: three int arrays ``(B,)``."""
        outside = (indices < 0) | (indices >= len(self))
        if outside.any():
            raise IndexError(f"window index must be in [0, {len(self)}), got {indices[outside][0]}")
        files = np.searchsorted(self._offsets, indices, side="right") - 1
        trajectories, starts = np.divmod(indices - self._offsets[files], self._starts[files])
        return files, trajectories, starts

    def _raw_field(
        self,
        file: int,
        field: WellField,
        trajectory: int,
        times: slice | None,
        out: np.ndarray | None = None,
        x_slab: slice = slice(None),
    ) -> np.ndarray:
        """One field of one trajectory as stored, ``([W,] *spatial', *tensor)`` float32, read into ``out``
        (a fresh array if None); of ``X`` only ``x_slab`` where the field varies along it (an HDF5
        hyperslab read)."""
        key = (trajectory,) * field.sample_varying + (times,) * field.time_varying
        key += (x_slab,) * field.dim_varying[0]
        if out is None:
            lead = (self.window_length,) if times is not None and field.time_varying else ()
            out = np.empty(lead + self._slab_shape(field, x_slab), np.float32)
        return read_slab(self._files.dataset(file, field.path), key, out)

    def _slab_shape(self, field: WellField, x_slab: slice) -> tuple[int, ...]:
        """The stored shape ``(*spatial', *tensor)`` of ``field`` with only ``x_slab`` of ``X`` read."""
        if not field.dim_varying[0]:
            return field.shape
        return (len(range(field.shape[0])[x_slab]), *field.shape[1:])

    def _flatten(self, data: np.ndarray, field: WellField, spatial: tuple[int, ...]) -> np.ndarray:
        """``([W,] *spatial', *tensor)`` to ``([W,] *spatial, n_dims ** order)``, broadcasting the
        spatial axes the field does not vary along."""
        lead = data.shape[: data.ndim - len(field.shape)]
        full = lead + spatial + field.shape[len(spatial) :]
        return np.broadcast_to(data, full).reshape(lead + spatial + (-1,))

    def _window_reads(self, x_slab: slice) -> list[_FieldRead]:
        """How each field of a window (of ``X`` only ``x_slab``) is read and spread over its channels."""
        x_start = range(self.spatial_shape[0])[x_slab].start
        reads = []
        for field, channels in zip(self.fields, self._channels):
            shape = (self.window_length, *self._slab_shape(field, x_slab))
            slab = Hyperslab(
                (1,) * field.sample_varying + shape,
                (1,) * field.sample_varying + (self.dt_stride,) + (1,) * len(field.shape),
                shape,
            )
            tensor = field.shape[len(self.spatial_shape) :]
            normalize = self._shift is not None
            reads.append(
                _FieldRead(
                    field=field,
                    slab=slab,
                    tail=(x_start if field.dim_varying[0] else 0,) + (0,) * (len(field.shape) - 1),
                    channels=range(channels.start, channels.stop),
                    shift=self._shift[channels].reshape(tensor) if normalize else None,
                    scale=self._scale[channels].reshape(tensor) if normalize else None,
                )
            )
        return reads

    def _read_into(
        self,
        out: np.ndarray,
        file: int,
        trajectory: int,
        start: int,
        reads: list[_FieldRead],
        buffers: list[np.ndarray],
    ) -> bool:
        """Writes the window of ``trajectory`` of ``file`` from time ``start`` into ``out``
        ``(W, *spatial, C)``, normalized, reading each field into its buffer ``(W, *spatial', *tensor)``
        first; returns whether every value read was finite."""
        finite = True
        for read, buffer in zip(reads, buffers):
            field = read.field
            first = (trajectory,) * field.sample_varying + (start,) + read.tail
            read.slab.read(self._files.dataset(file, field.path), first, buffer)
            # Checked and normalized while the field is in cache, before it is spread over its channels.
            finite &= bool(np.isfinite(buffer).all())
            if read.shift is not None:
                np.subtract(buffer, read.shift, out=buffer)
                np.divide(buffer, read.scale, out=buffer)
            if all(field.dim_varying):
                flat = buffer.reshape(out.shape[:-1] + (-1,))
            else:
                flat = self._flatten(buffer, field, out.shape[1:-1])
            # One copy per channel: assigning several interleaved channels at once runs numpy's inner
            # loop over the channel axis alone, several times slower than one strided copy per channel.
            for k, channel in enumerate(read.channels):
                out[..., channel] = flat[..., k]
        return finite

    def _find_nonfinite(self, indices: np.ndarray) -> None:
        """ValueError naming the file, field, trajectory and time index of the first NaN/Inf."""
        for index in indices:
            file, trajectory, start = self.locate(int(index))
            times = time_slice(start, self.window_length, self.dt_stride)
            for field in self.fields:
                where = f"{self.files[file]}: field {field.name!r} of trajectory {trajectory}"
                check_finite_window(
                    self._raw_field(file, field, trajectory, times), where, start, self.dt_stride
                )

    def read_batch(
        self, indices: np.ndarray | list[int], *, x_slab: slice | None = None, shared_memory: bool = False
    ) -> np.ndarray:
        """The windows ``indices`` ``(B,)`` as one batch ``(B, W, *spatial, C)`` float32; with ``x_slab``
        only that slab of the first spatial axis is read, ``(B, W, len(x_slab), ...)``; with
        ``shared_memory`` the batch is a ``grain.multiprocessing.SharedMemoryArray``."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        x_slab = slice(None) if x_slab is None else x_slab
        spatial = (len(range(self.spatial_shape[0])[x_slab]), *self.spatial_shape[1:])
        out = empty_batch((len(indices), self.window_length, *spatial, self._num_channels), shared_memory)
        reads = self._window_reads(x_slab)
        # One read buffer per field, reused for every window of the batch (and local to this call, so
        # that prefetch threads reading batches concurrently never share one).
        buffers = [np.empty(read.slab.shape, np.float32) for read in reads]
        finite = True
        constants: dict[tuple[int, int], np.ndarray] = {}
        width = self._channels[-1].stop
        located = zip(out, *(array.tolist() for array in self._locate(indices)))
        for window, file, trajectory, start in located:
            finite &= self._read_into(window[..., :width], file, trajectory, start, reads, buffers)
            if self.with_conditioning:
                if (file, trajectory) not in constants:
                    constants[file, trajectory] = self._constant_channels(file, trajectory)[x_slab]
                window[..., width:] = constants[file, trajectory]
        if not finite:
            self._find_nonfinite(indices)
        return out

    def __getitem__(self, index: int) -> np.ndarray:
        """Window ``index`` as ``(W, *spatial, C)`` float32."""
        index = check_int("index", index)
        return self.read_batch([index + len(self) if index < 0 else index])[0]

    def _constant_field(self, file: int, field: WellField, trajectory: int) -> np.ndarray:
        data = self._raw_field(file, field, trajectory, None)
        check_finite(data, f"{self.files[file]}: field {field.name!r} of trajectory {trajectory}")
        if field.name in self._stats:
            shift, scale = self._stats[field.name]
            data = (data - shift) / scale
        return self._flatten(data, field, self.spatial_shape)

    def _scalar_values(self, file: int, trajectory: int, times: slice | None) -> list[np.ndarray]:
        """The constant scalars (``times`` None) or the time-varying ones over ``times``, as stored."""
        values = []
        for scalar in self.layout.scalars:
            if scalar.time_varying == (times is not None):
                key = (trajectory,) * scalar.sample_varying + (times,) * scalar.time_varying
                data = self._files.dataset(file, f"scalars/{scalar.name}")[key]
                values.append(np.asarray(data, dtype=np.float32))
        return values

    def _constant_scalars(self, file: int, trajectory: int) -> np.ndarray:
        """The constant scalars of a trajectory ``(P,)``."""
        values = self._scalar_values(file, trajectory, None)
        return np.concatenate([np.ravel(v) for v in values]) if values else np.zeros((0,), np.float32)

    def _constant_channels(self, file: int, trajectory: int) -> np.ndarray:
        """The conditioning channels ``(*spatial, K)`` of a trajectory (:attr:`conditioning_names`)."""
        fields = [self._constant_field(file, f, trajectory) for f in self.constant_fields]
        scalars = self._constant_scalars(file, trajectory)
        fields.append(np.broadcast_to(scalars, (*self.spatial_shape, scalars.size)))
        return np.concatenate(fields, -1)

    def conditioning(self, index: int) -> dict[str, np.ndarray]:
        """What window ``index`` is conditioned on: ``constant_fields`` ``(*spatial, Cc)`` (normalized
        like the fields), ``constant_scalars`` ``(P,)``, time-varying ``scalars`` ``(W, Q)`` and the
        snapshot ``time`` ``(W,)``, all float32 (``Cc``, ``P``, ``Q`` may be 0)."""
        file, trajectory, start = self.locate(check_int("index", index) % max(len(self), 1))
        times = time_slice(start, self.window_length, self.dt_stride)
        constant = [self._constant_field(file, f, trajectory) for f in self.constant_fields]
        scalars = self._scalar_values(file, trajectory, times)
        time = self._files.dataset(file, "dimensions/time")
        time = time[(trajectory, times) if time.ndim > 1 else times]
        return {
            "constant_fields": np.concatenate(constant, -1)
            if constant
            else np.zeros((*self.spatial_shape, 0), np.float32),
            "constant_scalars": self._constant_scalars(file, trajectory),
            "scalars": np.stack(scalars, -1) if scalars else np.zeros((self.window_length, 0), np.float32),
            "time": np.asarray(time, dtype=np.float32),
        }
