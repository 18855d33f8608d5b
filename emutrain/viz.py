"""Plots of states, rollouts and error curves (matplotlib).

Every function builds a ``matplotlib.figure.Figure`` without pyplot, so it works under the Agg backend in
headless jobs, leaves no figure registered in pyplot's global state during long trainings, and still
displays inline in notebooks. Pass ``ax`` to draw into an existing axes instead; the function then returns
that axes' figure. :func:`figure_to_array` turns a figure into an image array for TensorBoard (CLU's
``writer.write_images``), :func:`save_figure` writes it to disk.

States are channels-last: a 1D state ``(N, C)``, a 1D trajectory ``(T+1, N, C)``, a 2D state ``(N, N, C)``;
the domain is periodic ``[0, L)`` with the right endpoint excluded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import matplotlib.image
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from emutrain import configurations as _configurations
from emutrain.evaluate import Evaluation
from emutrain.validation import check_int

__all__ = [
    "plot_nrmse_curves",
    "plot_spatio_temporal",
    "plot_state_1d",
    "plot_state_2d",
    "plot_rollout_comparison",
    "plot_rollout_snapshots",
    "evaluation_figures",
    "plot_configuration_schematic",
    "figure_to_array",
    "save_figure",
    "save_image",
]


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        figure = Figure(figsize=figsize, layout="constrained")
        return figure, figure.add_subplot()
    return ax.figure, ax


def _check_channel(channel: int, num_channels: int) -> None:
    if not 0 <= channel < num_channels:
        raise ValueError(f"channel must be in [0, {num_channels - 1}], got {channel}")


def _one_trajectory(trajectory: ArrayLike, sample: int, name: str) -> np.ndarray:
    """``(T+1, N, C)`` from a trajectory or a batch ``(B, T+1, N, C)``."""
    trajectory = np.asarray(trajectory)
    if trajectory.ndim == 4:
        if not 0 <= sample < trajectory.shape[0]:
            raise ValueError(f"sample must be in [0, {trajectory.shape[0] - 1}] for {name} of shape {trajectory.shape}, got {sample}")
        trajectory = trajectory[sample]
    if trajectory.ndim != 3:
        raise ValueError(f"{name} must have shape (T+1, N, C) or (B, T+1, N, C), got shape {trajectory.shape}")
    return trajectory


def _symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    bound = float(np.max(np.abs(values))) if values.size else 1.0
    bound = bound if np.isfinite(bound) and bound > 0 else 1.0
    return -bound, bound


def plot_nrmse_curves(
    curves: Mapping[str, ArrayLike],
    *,
    first_step: int = 1,
    ylim: tuple[float, float] | None = None,
    xlim: tuple[float, float] | None = None,
    log_scale: bool = True,
    dashed: Collection[str] = (),
    reference_level: float | None = 1.0,
    title: str | None = None,
    ylabel: str = "Mean nRMSE",
    ax: Axes | None = None,
) -> Figure:
    """Mean nRMSE versus time step, one line per model, every step drawn.

    Args:
      curves: ``{name: (H,)}`` error per step; models may have different horizons.
      first_step: time step of each curve's first entry (1 for ``RolloutMetrics.mean_nrmse``, 0 for a
        curve that starts at the initial condition).
      ylim: y limits; ``None`` (default) autoscales to every curve, so nothing leaves the frame.
      xlim: x limits, ``None`` for the full horizon.
      log_scale: logarithmic y axis (default), where errors that grow by orders of magnitude stay
        readable; zero errors have no place on it and are left out of the line.
      dashed: names of the curves drawn dashed (baselines); the others are solid.
      reference_level: a thin horizontal line at this error (1: the nRMSE of predicting zeros), or None.
      title, ylabel: axis texts.
      ax: axes to draw into; a new figure otherwise.
    """
    if not curves:
        raise ValueError("curves must hold at least one {name: (H,)} entry, got an empty mapping")
    unknown = set(dashed) - set(curves)
    if unknown:
        raise ValueError(f"dashed must name curves of {sorted(curves)}, got unknown {sorted(unknown)}")
    figure, ax = _figure_and_axes(ax, (6.0, 4.0))
    if reference_level is not None:
        # Drawn first, so the curves are the axes' last lines, in the order given.
        ax.axhline(reference_level, color="grey", linewidth=0.8, linestyle=":", zorder=0)
    for name, curve in curves.items():
        curve = np.asarray(curve, dtype=np.float64)
        if curve.ndim != 1:
            raise ValueError(f"curves[{name!r}] must have shape (H,), got shape {curve.shape}")
        if log_scale:
            curve = np.where(curve > 0, curve, np.nan)
        linestyle = "--" if name in dashed else "-"
        ax.plot(np.arange(first_step, first_step + curve.shape[0]), curve, linestyle=linestyle, label=name)
    if log_scale:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel("Time step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, which="both" if log_scale else "major")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return figure


def _draw_spatio_temporal(
    ax: Axes, field: np.ndarray, domain_extent: float, vlim: tuple[float, float], cmap: str, colorbar: bool, title: str | None
) -> None:
    """``field (T+1, N)`` as an image: time step on x, space on y."""
    num_times = field.shape[0]
    image = ax.imshow(
        field.T,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=vlim[0],
        vmax=vlim[1],
        extent=(-0.5, num_times - 0.5, 0.0, domain_extent),
        interpolation="nearest",
    )
    ax.set_xlabel("Time step")
    ax.set_ylabel("x")
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    if title is not None:
        ax.set_title(title)


def plot_spatio_temporal(
    trajectory: ArrayLike,
    *,
    sample: int = 0,
    channel: int = 0,
    domain_extent: float = 1.0,
    vlim: tuple[float, float] | None = None,
    cmap: str = "RdBu_r",
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Spatio-temporal image of a 1D trajectory: time step on x, space ``[0, L)`` on y.

    Args:
      trajectory: ``(T+1, N, C)`` or a batch ``(B, T+1, N, C)`` (then ``sample`` picks one).
      sample: index into a batch.
      channel: channel to show.
      domain_extent: L, the spatial axis' length.
      vlim: color limits; symmetric about 0 around the largest magnitude by default.
      cmap, colorbar, title: image options.
      ax: axes to draw into; a new figure otherwise.
    """
    trajectory = _one_trajectory(trajectory, sample, "trajectory")
    _check_channel(channel, trajectory.shape[-1])
    field = trajectory[..., channel]
    figure, ax = _figure_and_axes(ax, (6.0, 3.5))
    _draw_spatio_temporal(ax, field, domain_extent, vlim or _symmetric_limits(field), cmap, colorbar, title)
    return figure


def plot_state_1d(
    state: ArrayLike,
    *,
    domain_extent: float = 1.0,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Line plot of 1D states on the grid ``x_j = j L / N``.

    Args:
      state: one state ``(N, C)`` (one line per channel) or several ``(B, N, C)`` overlaid (one line per
        state and channel).
      domain_extent: L.
      labels: one legend label per line, in order (state-major), or ``None``.
      title: axis title.
      ax: axes to draw into; a new figure otherwise.
    """
    state = np.asarray(state)
    if state.ndim == 2:
        state = state[None]
    if state.ndim != 3:
        raise ValueError(f"state must have shape (N, C) or (B, N, C), got shape {state.shape}")
    num_states, num_points, num_channels = state.shape
    lines = [state[b, :, c] for b in range(num_states) for c in range(num_channels)]
    if labels is not None and len(labels) != len(lines):
        raise ValueError(f"labels must have one entry per line ({len(lines)} = B * C), got {len(labels)}")
    figure, ax = _figure_and_axes(ax, (6.0, 3.5))
    grid = np.arange(num_points) * domain_extent / num_points
    for i, line in enumerate(lines):
        ax.plot(grid, line, label=None if labels is None else labels[i])
    ax.set_xlim(0.0, domain_extent)
    ax.set_xlabel("x")
    ax.grid(True, alpha=0.3)
    if labels is not None:
        ax.legend()
    if title is not None:
        ax.set_title(title)
    return figure


def plot_state_2d(
    state: ArrayLike,
    *,
    channel: int = 0,
    domain_extent: float = 1.0,
    vlim: tuple[float, float] | None = None,
    cmap: str = "RdBu_r",
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Image of one channel of a 2D state ``(N_x, N_y, C)``: first spatial axis on x, second on y.

    Args:
      state: ``(N_x, N_y, C)``.
      channel: channel to show.
      domain_extent: L of both axes.
      vlim: color limits; symmetric about 0 by default.
      cmap, colorbar, title: image options.
      ax: axes to draw into; a new figure otherwise.
    """
    state = np.asarray(state)
    if state.ndim != 3:
        raise ValueError(f"state must have shape (N_x, N_y, C), got shape {state.shape}")
    _check_channel(channel, state.shape[-1])
    field = state[..., channel]
    vmin, vmax = vlim or _symmetric_limits(field)
    figure, ax = _figure_and_axes(ax, (4.5, 4.0))
    image = ax.imshow(
        field.T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, extent=(0.0, domain_extent, 0.0, domain_extent)
    )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if colorbar:
        figure.colorbar(image, ax=ax)
    if title is not None:
        ax.set_title(title)
    return figure


def plot_rollout_comparison(
    pred: ArrayLike,
    ref: ArrayLike,
    *,
    sample: int = 0,
    channel: int = 0,
    domain_extent: float = 1.0,
    cmap: str = "RdBu_r",
    titles: tuple[str, str, str] = ("Reference", "Prediction", "Error (prediction - reference)"),
) -> Figure:
    """Reference, prediction and their difference as three spatio-temporal panels of a 1D rollout.

    Reference and prediction share one symmetric color scale set by the reference (a diverging
    prediction saturates rather than washing the reference out); the error has its own symmetric scale.

    Args:
      pred: ``(T+1, N, C)`` or ``(B, T+1, N, C)``.
      ref: same shape as ``pred``.
      sample: index into a batch.
      channel: channel to show.
      domain_extent: L.
      cmap: color map of all panels.
      titles: panel titles.
    """
    pred_array, ref_array = np.asarray(pred), np.asarray(ref)
    if pred_array.shape != ref_array.shape:
        raise ValueError(f"pred and ref must have the same shape, got pred {pred_array.shape} and ref {ref_array.shape}")
    pred_array = _one_trajectory(pred_array, sample, "pred")
    ref_array = _one_trajectory(ref_array, sample, "ref")
    _check_channel(channel, ref_array.shape[-1])
    reference, prediction = ref_array[..., channel], pred_array[..., channel]
    error = prediction - reference
    # Fixed margins: a layout engine costs most of the rendering time of this figure at every evaluation.
    figure = Figure(figsize=(15.0, 3.5))
    figure.subplots_adjust(left=0.04, right=0.99, bottom=0.14, top=0.9, wspace=0.12)
    axes = figure.subplots(1, 3, sharey=True)
    limits = _symmetric_limits(reference)
    for ax, field, vlim, title in zip(axes, (reference, prediction, error), (limits, limits, _symmetric_limits(error)), titles):
        _draw_spatio_temporal(ax, field, domain_extent, vlim, cmap, True, title)
    return figure


def plot_rollout_snapshots(
    pred: ArrayLike,
    ref: ArrayLike,
    *,
    channel: int = 0,
    num_snapshots: int = 4,
    domain_extent: float = 1.0,
    cmap: str = "RdBu_r",
) -> Figure:
    """Reference, prediction and error of a 2D rollout at a few time levels: a 3 x K grid of images.

    Args:
      pred: ``(T+1, N_x, N_y, C)`` prediction, index 0 the initial condition.
      ref: same shape, the reference.
      channel: channel to show.
      num_snapshots: K, time levels shown, evenly spaced from 0 to T (fewer if T+1 < K).
      domain_extent: L of both axes.
      cmap: color map; reference and prediction share the reference's symmetric scale, the error has its own.
    """
    pred_array, ref_array = np.asarray(pred), np.asarray(ref)
    if pred_array.shape != ref_array.shape or ref_array.ndim != 4:
        raise ValueError(
            "pred and ref must both have shape (T+1, N_x, N_y, C), "
            f"got pred {pred_array.shape} and ref {ref_array.shape}"
        )
    _check_channel(channel, ref_array.shape[-1])
    num_snapshots = check_int("num_snapshots", num_snapshots, minimum=1)
    levels = np.unique(np.linspace(0, ref_array.shape[0] - 1, num_snapshots).round().astype(int))
    reference, prediction = ref_array[levels, ..., channel], pred_array[levels, ..., channel]
    error = prediction - reference
    figure = Figure(figsize=(2.4 * len(levels) + 0.6, 6.6))
    figure.subplots_adjust(left=0.08, right=0.92, bottom=0.04, top=0.93, wspace=0.05, hspace=0.15)
    axes = figure.subplots(3, len(levels), squeeze=False)
    limits, error_limits = _symmetric_limits(reference), _symmetric_limits(error)
    rows = (("Reference", reference, limits), ("Prediction", prediction, limits), ("Error", error, error_limits))
    for row, (label, fields, (vmin, vmax)) in enumerate(rows):
        for col, level in enumerate(levels):
            ax = axes[row, col]
            image = ax.imshow(fields[col].T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                              extent=(0.0, domain_extent, 0.0, domain_extent))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t = {level}", fontsize=9)
            if col == 0:
                ax.set_ylabel(label)
        figure.colorbar(image, ax=list(axes[row]), fraction=0.02, pad=0.01)
    return figure


def evaluation_figures(
    evaluation: Evaluation, *, step: int | None = None, domain_extent: float = 1.0
) -> dict[str, Figure]:
    """The figures of one periodic evaluation.

    * ``"nrmse"``: mean nRMSE at every step 1..H on a log axis, autoscaled; the model solid, each baseline
      dashed, a reference line at 1; ``"step N"`` in the title when ``step`` is given.
    * ``"rollout_i"`` for each kept rollout i < P: 1D states as reference / prediction / error space-time
      images (:func:`plot_rollout_comparison`), 2D states as snapshots (:func:`plot_rollout_snapshots`);
      higher dimensions draw the 2D slice through the middle of the remaining axes.

    Args:
      evaluation: an :class:`emutrain.evaluate.Evaluation`.
      step: training step, for the title.
      domain_extent: L, the length of the space axes.
    """
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"evaluation must be an emutrain.evaluate.Evaluation, got {type(evaluation).__name__}")
    curves = {"model": evaluation.metrics.mean_nrmse}
    for name, baseline in evaluation.baselines.items():
        curves[name] = baseline.mean_nrmse
    title = "Test rollout error" + ("" if step is None else f", step {check_int('step', step, minimum=0)}")
    figures = {"nrmse": plot_nrmse_curves(curves, dashed=tuple(evaluation.baselines), title=title)}
    if evaluation.predictions is None or evaluation.references is None:
        return figures
    for i, (prediction, reference) in enumerate(zip(evaluation.predictions, evaluation.references)):
        num_spatial = reference.ndim - 2
        if num_spatial == 1:
            figures[f"rollout_{i}"] = plot_rollout_comparison(prediction, reference, domain_extent=domain_extent)
            continue
        # (T+1, N_x, N_y, ..., C) -> (T+1, N_x, N_y, C) through the middle of the further spatial axes.
        middle = (slice(None),) * 3 + tuple(n // 2 for n in reference.shape[3:-1])
        figures[f"rollout_{i}"] = plot_rollout_snapshots(
            prediction[middle], reference[middle], domain_extent=domain_extent
        )
    return figures


def figure_to_array(figure: Figure, *, dpi: float | None = None, include_alpha: bool = False) -> np.ndarray:
    """Rasterize a figure: ``(H, W, 3)`` uint8 RGB, or ``(H, W, 4)`` RGBA with ``include_alpha``.

    Renders through PNG, so it works whatever canvas (backend) the figure is attached to. Add a leading
    axis for CLU's ``writer.write_images(step, {name: image[None]})``.
    """
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib.figure.Figure, got {type(figure).__name__}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi if dpi is not None else figure.dpi, facecolor="white")
    buffer.seek(0)
    rgba = matplotlib.image.imread(buffer, format="png")
    image = np.round(rgba * 255.0).astype(np.uint8)
    return image if include_alpha else image[..., :3]


def _make_parent(path: str | os.PathLike[str]) -> None:
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)


def save_image(image: ArrayLike, path: str | os.PathLike[str]) -> None:
    """Write an image array ``(H, W, 3|4)`` uint8 (e.g. from :func:`figure_to_array`) as a PNG, creating
    parent folders; saves rendering a figure twice when both the array and the file are wanted."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must be a (H, W, 3|4) uint8 array, got shape {image.shape} and dtype {image.dtype}")
    _make_parent(path)
    matplotlib.image.imsave(path, image, format="png")


def save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: float | None = None) -> None:
    """Write ``figure`` to ``path`` (format from the extension, e.g. ``.png``), creating parent folders."""
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib.figure.Figure, got {type(figure).__name__}")
    _make_parent(path)
    figure.savefig(path, dpi=dpi if dpi is not None else figure.dpi, facecolor="white")


_SCHEMATIC_STYLE = {
    "network": {"color": "tab:blue", "linestyle": "-"},
    "reference": {"color": "tab:green", "linestyle": "-"},
    "loss": {"color": "tab:red", "linestyle": "--"},
    "residuum": {"color": "tab:purple", "linestyle": "-"},
    "cut": {"color": "grey", "linestyle": "--"},
}


class _ChainDrawer:
    """Draws the nodes, steps, loss links and gradient cuts of one chain, rows offset by ``row0``.

    Every drawn element carries a ``gid`` naming what it is (``"network"``, ``"reference"``,
    ``"loss"``, ``"residuum"``, ``"cut"``, ``"state"``, ``"data"``), one artist per element, so the figure
    can be checked against the configuration: one ``"loss"`` artist per loss term.
    """

    def __init__(self, ax: Axes, row0: float):
        self.ax = ax
        self.row0 = row0

    def _xy(self, node: tuple[float, float]) -> tuple[float, float]:
        return node[0], self.row0 + node[1]

    def node(self, node: tuple[float, float], kind: str) -> None:
        x, y = self._xy(node)
        style = {
            "state": dict(marker="o", color="tab:blue"),
            "reference": dict(marker="o", color="tab:green"),
            "data": dict(marker="s", color="black"),
        }[kind]
        (artist,) = self.ax.plot([x], [y], linestyle="none", markersize=9, zorder=3, **style)
        artist.set_gid("data" if kind == "data" else "state")

    def step(self, start: tuple[float, float], end: tuple[float, float], kind: str, *, cut: bool = False) -> None:
        """An arrow for one application of a stepper (``kind``: network or reference); a dashed grey
        arrow when no gradient flows back through it into ``start``."""
        style = _SCHEMATIC_STYLE["cut" if cut else kind]
        color = _SCHEMATIC_STYLE[kind]["color"]
        arrow = self.ax.annotate(
            "", xy=self._xy(end), xytext=self._xy(start), zorder=2,
            arrowprops=dict(arrowstyle="-|>", color=color, linestyle=style["linestyle"], shrinkA=6, shrinkB=6,
                            linewidth=1.5, mutation_scale=12, alpha=0.45 if cut else 1.0),
        )
        arrow.set_gid(kind)

    def cut(self, node: tuple[float, float], dx: float = 0.22, dy: float = 0.0) -> None:
        """A gradient cut (stop_gradient) just after ``node``, drawn as a grey cross."""
        x, y = self._xy(node)
        (artist,) = self.ax.plot([x + dx], [y + dy], marker="X", color="grey", markersize=8, linestyle="none", zorder=4)
        artist.set_gid("cut")

    def loss(self, a: tuple[float, float], b: tuple[float, float], weight: float | None) -> None:
        """A loss term comparing the states at ``a`` and ``b``, labelled with its weight when not 1."""
        (xa, ya), (xb, yb) = self._xy(a), self._xy(b)
        # Bend the link sideways so it stays visible next to step arrows and clear of the rows it spans.
        mx, my = 0.5 * (xa + xb) + 0.12 + 0.1 * max(abs(yb - ya) - 1.0, 0.0), 0.5 * (ya + yb)
        (artist,) = self.ax.plot([xa, mx, xb], [ya, my, yb], zorder=1, linewidth=1.3, **_SCHEMATIC_STYLE["loss"])
        artist.set_gid("loss")
        if weight is not None:
            self.ax.text(mx + 0.04, my, f"{weight:g}", color="tab:red", fontsize=8, va="center")

    def residuum(self, prev: tuple[float, float], nxt: tuple[float, float], weight: float | None,
                 cut_prev: bool, cut_next: bool) -> None:
        """The residuum loss term ``l(rho(next, prev))``: a red rho above the two states, wired to both."""
        (xp, yp), (xn, yn) = self._xy(prev), self._xy(nxt)
        xr, yr = 0.5 * (xp + xn), max(yp, yn) + 0.75
        for (x, y), is_cut in (((xp, yp), cut_prev), ((xn, yn), cut_next)):
            style = _SCHEMATIC_STYLE["cut" if is_cut else "residuum"]
            (leg,) = self.ax.plot([x, xr], [y, yr], linewidth=1.2, zorder=1, **style)
            leg.set_gid("residuum")
            if is_cut:
                (mark,) = self.ax.plot([0.5 * (x + xr)], [0.5 * (y + yr)], marker="X", color="grey",
                                       markersize=8, linestyle="none", zorder=4)
                mark.set_gid("cut")
        label = r"$\rho$" if weight is None else rf"$\rho$ ({weight:g})"
        text = self.ax.text(xr, yr, label, color="tab:red", ha="center", va="center", fontsize=11, zorder=5,
                            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="tab:red"))
        text.set_gid("loss")


def _weight_labels(weights: Sequence[float] | None, count: int) -> list[float | None]:
    """Per-term weight labels: ``None`` everywhere when all weights are the default one."""
    if weights is None or all(w == 1.0 for w in weights):
        return [None] * count
    return [float(w) for w in weights]


def _uses_data(conf: Any) -> bool:
    return isinstance(conf, (_configurations.Supervised, _configurations.TeacherForcing, _configurations.MixChainPostPhysics))


def _chain_extent(conf: Any) -> tuple[float, float, int]:
    """(lowest row, highest row, last time level) of a configuration's chain.

    Rows: the network main chain at 0, stored data below (-1), reference branches and residua above.
    """
    last = conf.num_rollout_steps + getattr(conf, "num_post_physics_steps", 0)
    if _uses_data(conf):
        return -1.0, 0.0, last
    if isinstance(conf, _configurations.Residuum):
        return 0.0, 0.75, last
    num_branch = getattr(conf, "num_branch_steps", 1)
    return 0.0, float(min(num_branch, conf.num_rollout_steps - num_branch + 1)), last


def _draw_chain(drawer: _ChainDrawer, conf: Any) -> None:
    """Draws one configuration's chain at the rows of :func:`_chain_extent`."""
    num_steps = conf.num_rollout_steps
    cut = [bool(c) for c in conf.cut_mask(np.arange(num_steps))]
    teacher = isinstance(conf, _configurations.TeacherForcing)
    resets = [teacher and t % conf.reset_every == 0 for t in range(num_steps)]
    num_post = conf.num_post_physics_steps if isinstance(conf, _configurations.MixChainPostPhysics) else 0
    last = num_steps + num_post

    drawer.node((0, 0), "data")
    for t in range(1, num_steps + 1):
        drawer.node((t, 0), "state")
    # Main chain: network steps; a state cut after step t-1 feeds step t without gradient.
    for t in range(num_steps):
        if resets[t] and t > 0:
            drawer.step((t, -1), (t + 1, 0), "network")
        else:
            cut_before = t > 0 and cut[t - 1]
            drawer.step((t, 0), (t + 1, 0), "network", cut=cut_before)
            if cut_before:
                drawer.cut((t, 0))
    for j in range(num_post):
        t = num_steps + j
        drawer.node((t + 1, 0), "reference")
        cut_before = j == 0 and cut[num_steps - 1]
        drawer.step((t, 0), (t + 1, 0), "reference", cut=cut_before)
        if cut_before:
            drawer.cut((t, 0))

    if _uses_data(conf):
        for t in range(1, last + 1):
            drawer.node((t, -1), "data")
        labels = _weight_labels(conf.time_level_weights, last)
        for t in range(1, last + 1):
            drawer.loss((t, 0), (t, -1), labels[t - 1])
    elif isinstance(conf, _configurations.Residuum):
        labels = _weight_labels(conf.time_level_weights, num_steps)
        for t in range(num_steps):
            drawer.residuum((t, 0), (t + 1, 0), labels[t], conf.cut_prev, conf.cut_next)
    else:
        num_branch = getattr(conf, "num_branch_steps", 1)
        num_starts = num_steps - num_branch + 1
        starts = _weight_labels(conf.time_level_weights, num_starts)
        branch = _weight_labels(getattr(conf, "branch_level_weights", None), num_branch)
        for t in range(num_starts):
            # Overlapping branches go to different rows; branch b of start t ends at level t+b+1.
            row = 1 + t % num_branch
            for b in range(num_branch):
                level = t + b + 1
                drawer.node((level, row), "reference")
                start = (t, 0) if b == 0 else (level - 1, row)
                start_cut = b == 0 and (conf.cut_div_chain or (t > 0 and cut[t - 1]))
                drawer.step(start, (level, row), "reference", cut=start_cut)
                if b == 0 and conf.cut_div_chain:
                    drawer.cut((t, 0), dx=0.12, dy=0.3)
                w_t, v_b = starts[t], branch[b]
                weight = None if w_t is None and v_b is None else (1.0 if w_t is None else w_t) * (1.0 if v_b is None else v_b)
                drawer.loss((level, 0), (level, row), weight)


def _configuration_title(conf: Any) -> str:
    name = type(conf).__name__
    items = [f"R={conf.num_rollout_steps}"]
    for field_name, label in (("num_branch_steps", "B"), ("num_post_physics_steps", "P"), ("reset_every", "reset every")):
        if hasattr(conf, field_name):
            items.append(f"{label}={getattr(conf, field_name)}" if len(label) == 1 else f"{label} {getattr(conf, field_name)}")
    if conf.cut_bptt:
        items.append("cut_bptt" + (f" every {conf.cut_bptt_every}" if conf.cut_bptt_every > 1 else ""))
    for flag in ("cut_div_chain", "cut_prev", "cut_next"):
        if getattr(conf, flag, False):
            items.append(flag)
    if conf.pushforward_steps:
        items.append(f"pushforward {conf.pushforward_steps}")
    return f"{name}({', '.join(items)})"


def plot_configuration_schematic(
    configuration: Any, *, title: str | None = None, legend: bool = True, ax: Axes | None = None
) -> Figure:
    """Schematic of the chain a training configuration unrolls (DESIGN §4), read from its fields.

    Time levels run along x. The network main chain (blue circles, one blue arrow per network step) starts
    from the stored initial condition (black square) at row 0; stored data levels are black squares below
    it; states of the reference stepper are green (the branches of a diverted chain above the main chain,
    the post-physics steps of a mix chain on it). Each loss term is one red dashed link between the two
    states it compares, labelled with its weight when the weights are not all one; a residuum term is a red
    rho wired to its previous and next state. After a teacher-forcing reset the next network step starts
    from the stored level. A grey cross marks a gradient cut (stop_gradient); the steps it detaches are
    dashed and faded. A ``Composite`` stacks its parts top to bottom, each labelled with its weight.

    Every element is one artist whose ``gid`` names its kind (``"network"``, ``"reference"``, ``"loss"``,
    ``"residuum"``, ``"cut"``, ``"state"``, ``"data"``): e.g. ``figure.findobj(lambda a: a.get_gid() ==
    "loss")`` has one entry per loss term.

    Args:
      configuration: a ``Supervised``, ``TeacherForcing``, ``MixChainPostPhysics``,
        ``DivertedChainBranchOne``, ``DivertedChain`` or ``Residuum``, or a ``Composite`` of them.
      title: axes title; defaults to the configuration's name and its non-default fields.
      legend: draw a legend of the symbols below the axes.
      ax: axes to draw into; a new figure otherwise.
    """
    if isinstance(configuration, _configurations.Composite):
        parts = list(configuration.configurations)
        weights = list(configuration.weights or (1.0,) * len(parts))
    elif isinstance(configuration, _configurations.Configuration):
        parts, weights = [configuration], [None]
    else:
        raise TypeError(
            "configuration must be an emutrain.configurations Configuration or Composite, "
            f"got {type(configuration).__name__}"
        )
    for part in parts:
        if not isinstance(part, _configurations.Configuration):
            raise TypeError(f"configuration must hold Configuration objects only, got a part of type {type(part).__name__}")
    extents = [_chain_extent(part) for part in parts]
    last = max(extent[2] for extent in extents)
    height = sum(high - low for low, high, _ in extents) + 1.2 * len(parts)
    figure, ax = _figure_and_axes(ax, (1.6 + 0.8 * last, 0.9 + 0.55 * height + (0.5 if legend else 0.0)))
    row0, yticks, ylabels = 0.0, [], []
    for part, weight, (low, high, _) in zip(parts, weights, extents):
        row0 -= high
        _draw_chain(_ChainDrawer(ax, row0), part)
        yticks.append(row0)
        ylabels.append("main chain" if weight is None else f"{weight:g} x {_configuration_title(part)}")
        if low < 0:
            yticks.append(row0 + low)
            ylabels.append("data")
        row0 += low - 1.2
    ax.set_xticks(range(last + 1))
    ax.set_xlim(-0.4, last + 0.6)
    ax.set_ylim(row0 + 0.7, 0.5)
    ax.set_yticks(yticks, ylabels, fontsize=8)
    ax.set_xlabel("Time level")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if title is None:
        title = "Composite" if weights != [None] else _configuration_title(configuration)
    ax.set_title(title, fontsize=10)
    if legend:
        handles = [
            Line2D([], [], color="tab:blue", marker="o", label="network step / state"),
            Line2D([], [], color="tab:green", marker="o", label="reference step / state"),
            Line2D([], [], color="black", marker="s", linestyle="none", label="stored data"),
            Line2D([], [], color="tab:red", linestyle="--", label="loss term"),
            Line2D([], [], color="grey", marker="X", linestyle="--", label="gradient cut"),
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=7, frameon=False)
    return figure
