"""Plots of states, rollouts, error curves and configuration chains (matplotlib).

:func:`evaluation_figures` draws one periodic evaluation (``emutrain.evaluate.Evaluation``): the error
curves of the model and its baselines and a few rollouts. :func:`plot_configuration_schematic` draws any
configuration from its ``describe_chain()`` description alone.

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

from emutrain.configurations.chain import ChainDescription, ChainLoss, ChainStep, CompositeChain
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
            raise ValueError(
                f"sample must be in [0, {trajectory.shape[0] - 1}] for {name} of shape {trajectory.shape}, "
                f"got {sample}"
            )
        trajectory = trajectory[sample]
    if trajectory.ndim != 3:
        raise ValueError(
            f"{name} must have shape (T+1, N, C) or (B, T+1, N, C), got shape {trajectory.shape}"
        )
    return trajectory


def _symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    bound = float(np.max(np.abs(values))) if values.size else 1.0
    bound = bound if np.isfinite(bound) and bound > 0 else 1.0
    return -bound, bound


def _color_limits(vlim: Any, field: np.ndarray) -> tuple[float, float]:
    """``vlim`` as ``(low, high)`` floats (any pair of numbers, zero included, an array too), or the
    symmetric limits of ``field`` when it is None."""
    if vlim is None:
        return _symmetric_limits(field)
    try:
        low, high = (float(v) for v in vlim)
    except (TypeError, ValueError):
        raise TypeError(f"vlim must be None or two numbers (low, high), got {vlim!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"vlim must be two finite numbers with low < high, got {vlim!r}")
    return low, high


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


def _draw_image(
    ax: Axes,
    field: np.ndarray,
    labels: tuple[str, str],
    vlim: tuple[float, float],
    cmap: str,
    colorbar: bool,
    title: str | None,
    **imshow_options: Any,
) -> None:
    """``field (N_x, N_y)`` as an image, first axis on x and second on y, with axis labels ``labels``."""
    image = ax.imshow(field.T, origin="lower", cmap=cmap, vmin=vlim[0], vmax=vlim[1], **imshow_options)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    if title is not None:
        ax.set_title(title)


def _draw_spatio_temporal(
    ax: Axes,
    field: np.ndarray,
    domain_extent: float,
    vlim: tuple[float, float],
    cmap: str,
    colorbar: bool,
    title: str | None,
) -> None:
    """``field (T+1, N)`` as an image: time step on x, space on y."""
    extent = (-0.5, field.shape[0] - 0.5, 0.0, domain_extent)
    options = dict(aspect="auto", extent=extent, interpolation="nearest")
    _draw_image(ax, field, ("Time step", "x"), vlim, cmap, colorbar, title, **options)


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
    _draw_spatio_temporal(ax, field, domain_extent, _color_limits(vlim, field), cmap, colorbar, title)
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
    figure, ax = _figure_and_axes(ax, (4.5, 4.0))
    extent = (0.0, domain_extent, 0.0, domain_extent)
    _draw_image(ax, field, ("x", "y"), _color_limits(vlim, field), cmap, colorbar, title, extent=extent)
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
        raise ValueError(
            f"pred and ref must have the same shape, got pred {pred_array.shape} and ref {ref_array.shape}"
        )
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
    for ax, field, vlim, title in zip(
        axes, (reference, prediction, error), (limits, limits, _symmetric_limits(error)), titles
    ):
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
    rows = (
        ("Reference", reference, limits),
        ("Prediction", prediction, limits),
        ("Error", error, error_limits),
    )
    for row, (label, fields, (vmin, vmax)) in enumerate(rows):
        for col, level in enumerate(levels):
            ax = axes[row, col]
            image = ax.imshow(
                fields[col].T,
                origin="lower",
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                extent=(0.0, domain_extent, 0.0, domain_extent),
            )
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
        raise TypeError(
            f"evaluation must be an emutrain.evaluate.Evaluation, got {type(evaluation).__name__}"
        )
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
            figures[f"rollout_{i}"] = plot_rollout_comparison(
                prediction, reference, domain_extent=domain_extent
            )
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
        raise ValueError(
            f"image must be a (H, W, 3|4) uint8 array, got shape {image.shape} and dtype {image.dtype}"
        )
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
_NODE_STYLE = {
    "network": dict(marker="o", color="tab:blue"),
    "reference": dict(marker="o", color="tab:green"),
    "data": dict(marker="s", color="black"),
}
_RESIDUUM_HEIGHT = 0.75


class _ChainDrawer:
    """Draws one chain description with its lane 0 at height ``row0`` (lanes count upwards).

    Every drawn element carries a ``gid`` naming what it is (``"network"``, ``"reference"``, ``"loss"``,
    ``"residuum"``, ``"cut"``, ``"state"``, ``"data"``), one artist per element, so the figure can be
    checked against the description: one ``"loss"`` artist per loss term.
    """

    def __init__(self, ax: Axes, row0: float, chain: ChainDescription):
        self.ax = ax
        self.row0 = row0
        self.chain = chain

    def _xy(self, index: int) -> tuple[float, float]:
        node = self.chain.nodes[index]
        return float(node.level), self.row0 + node.lane

    def _cross(self, x: float, y: float) -> None:
        (artist,) = self.ax.plot([x], [y], marker="X", color="grey", markersize=8, linestyle="none", zorder=4)
        artist.set_gid("cut")

    def draw(self) -> None:
        weights = [loss.weight for loss in self.chain.losses]
        # Weights are labelled only when they are not all the default one.
        labelled = any(w != 1.0 for w in weights)
        for index, node in enumerate(self.chain.nodes):
            x, y = self._xy(index)
            (artist,) = self.ax.plot(
                [x], [y], linestyle="none", markersize=9, zorder=3, **_NODE_STYLE[node.source]
            )
            artist.set_gid("data" if node.source == "data" else "state")
        for step in self.chain.steps:
            self.step(step)
        for loss in self.chain.losses:
            weight = loss.weight if labelled else None
            if loss.kind == "residuum":
                self.residuum(loss, weight)
            else:
                self.pair(loss, weight)

    def step(self, step: ChainStep) -> None:
        """An arrow for one stepper call; dashed and faded when no gradient flows back through it, with a
        grey cross just after its start."""
        (xa, ya), (xb, yb) = self._xy(step.start), self._xy(step.end)
        style = _SCHEMATIC_STYLE["cut" if step.cut else step.stepper]
        arrow = self.ax.annotate(
            "",
            xy=(xb, yb),
            xytext=(xa, ya),
            zorder=2,
            arrowprops=dict(
                arrowstyle="-|>",
                color=_SCHEMATIC_STYLE[step.stepper]["color"],
                linestyle=style["linestyle"],
                shrinkA=6,
                shrinkB=6,
                linewidth=1.5,
                mutation_scale=12,
                alpha=0.45 if step.cut else 1.0,
            ),
        )
        arrow.set_gid(step.stepper)
        if step.cut:
            self._cross(xa + 0.25 * (xb - xa), ya + 0.25 * (yb - ya))

    def pair(self, loss: ChainLoss, weight: float | None) -> None:
        """A red dashed link between the two compared states, bent sideways to stay clear of the arrows."""
        (xa, ya), (xb, yb) = self._xy(loss.inputs[0]), self._xy(loss.inputs[1])
        mx, my = 0.5 * (xa + xb) + 0.12 + 0.1 * max(abs(yb - ya) - 1.0, 0.0), 0.5 * (ya + yb)
        (artist,) = self.ax.plot(
            [xa, mx, xb], [ya, my, yb], zorder=1, linewidth=1.3, **_SCHEMATIC_STYLE["loss"]
        )
        artist.set_gid("loss")
        for (x, y), is_cut in zip(((xa, ya), (xb, yb)), loss.cut):
            if is_cut:
                self._cross(0.5 * (x + mx), 0.5 * (y + my))
        if weight is not None:
            self.ax.text(mx + 0.04, my, f"{weight:g}", color="tab:red", fontsize=8, va="center")

    def residuum(self, loss: ChainLoss, weight: float | None) -> None:
        """``l(rho(next, previous))``: a red rho above the two states, wired to both."""
        (xn, yn), (xp, yp) = self._xy(loss.inputs[0]), self._xy(loss.inputs[1])
        xr, yr = 0.5 * (xp + xn), max(yp, yn) + _RESIDUUM_HEIGHT
        for (x, y), is_cut in zip(((xn, yn), (xp, yp)), loss.cut):
            style = _SCHEMATIC_STYLE["cut" if is_cut else "residuum"]
            (leg,) = self.ax.plot([x, xr], [y, yr], linewidth=1.2, zorder=1, **style)
            leg.set_gid("residuum")
            if is_cut:
                self._cross(0.5 * (x + xr), 0.5 * (y + yr))
        label = r"$\rho$" if weight is None else rf"$\rho$ ({weight:g})"
        text = self.ax.text(
            xr,
            yr,
            label,
            color="tab:red",
            ha="center",
            va="center",
            fontsize=11,
            zorder=5,
            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="tab:red"),
        )
        text.set_gid("loss")


def _lanes(chain: ChainDescription) -> tuple[float, float]:
    """(lowest, highest) height of a chain relative to its lane 0, residuum symbols included."""
    lanes = [node.lane for node in chain.nodes]
    high = float(max(lanes))
    if any(loss.kind == "residuum" for loss in chain.losses):
        high = max(high, max(chain.nodes[loss.inputs[0]].lane for loss in chain.losses) + _RESIDUUM_HEIGHT)
    return float(min(min(lanes), 0)), max(high, 0.0)


def plot_configuration_schematic(
    configuration: Any, *, title: str | None = None, legend: bool = True, ax: Axes | None = None
) -> Figure:
    """Schematic of the chain a training configuration unrolls, drawn from its ``describe_chain()``.

    Time levels run along x, lanes along y. The network main chain (blue circles, one blue arrow per
    network step) starts from the stored initial condition (black square) at lane 0; stored data levels
    are black squares (lane -1); states of the reference stepper are green (the branches of a diverted
    chain above the main chain, the post-physics steps of a mix chain on it). Each loss term is one red
    dashed link between the two states it compares, labelled with its weight when the weights are not all
    one; a residuum term is a red rho wired to its next and previous state. A grey cross marks a gradient
    cut (stop_gradient); a step it detaches is dashed and faded. A composite stacks its parts top to
    bottom, each labelled with its weight.

    Every element is one artist whose ``gid`` names its kind (``"network"``, ``"reference"``, ``"loss"``,
    ``"residuum"``, ``"cut"``, ``"state"``, ``"data"``): e.g. ``figure.findobj(lambda a: a.get_gid() ==
    "loss")`` has one entry per loss term.

    Args:
      configuration: anything with a ``describe_chain()`` returning a
        ``emutrain.configurations.ChainDescription`` or ``CompositeChain`` (every configuration does).
      title: axes title; defaults to the description's label.
      legend: draw a legend of the symbols below the axes.
      ax: axes to draw into; a new figure otherwise.
    """
    try:
        describe = configuration.describe_chain
    except AttributeError:
        describe = None
    description = describe() if callable(describe) else None
    if isinstance(description, CompositeChain):
        parts, weights = list(description.parts), list(description.weights)
    elif isinstance(description, ChainDescription):
        parts, weights = [description], [None]
    else:
        raise TypeError(
            "configuration must be an object whose describe_chain() returns a ChainDescription or a "
            f"CompositeChain (every emutrain configuration), got {type(configuration).__name__}"
        )
    extents = [_lanes(part) for part in parts]
    last = max(part.last_level for part in parts)
    height = sum(high - low for low, high in extents) + 1.2 * len(parts)
    figure, ax = _figure_and_axes(ax, (1.6 + 0.8 * last, 0.9 + 0.55 * height + (0.5 if legend else 0.0)))
    row0, yticks, ylabels = 0.0, [], []
    for part, weight, (low, high) in zip(parts, weights, extents):
        row0 -= high
        _ChainDrawer(ax, row0, part).draw()
        yticks.append(row0)
        ylabels.append("main chain" if weight is None else f"{weight:g} x {part.label}")
        for lane in sorted({node.lane for node in part.nodes if node.lane != 0}):
            if all(node.source == "data" for node in part.nodes if node.lane == lane):
                yticks.append(row0 + lane)
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
    ax.set_title(description.label if title is None else title, fontsize=10)
    if legend:
        handles = [
            Line2D([], [], color="tab:blue", marker="o", label="network step / state"),
            Line2D([], [], color="tab:green", marker="o", label="reference step / state"),
            Line2D([], [], color="black", marker="s", linestyle="none", label="stored data"),
            Line2D([], [], color="tab:red", linestyle="--", label="loss term"),
            Line2D([], [], color="grey", marker="X", linestyle="--", label="gradient cut"),
        ]
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=7, frameon=False
        )
    return figure
