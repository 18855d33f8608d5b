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
from collections.abc import Mapping, Sequence

import matplotlib.image
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

__all__ = [
    "plot_nrmse_curves",
    "plot_spatio_temporal",
    "plot_state_1d",
    "plot_state_2d",
    "plot_rollout_comparison",
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
    ylim: tuple[float, float] | None = (-0.05, 1.05),
    xlim: tuple[float, float] | None = None,
    log_scale: bool = False,
    title: str | None = None,
    ylabel: str = "Mean nRMSE",
    ax: Axes | None = None,
) -> Figure:
    """Mean nRMSE versus time step, one line per model.

    Args:
      curves: ``{name: (H,)}`` error per step; models may have different horizons.
      first_step: time step of each curve's first entry (1 for ``RolloutMetrics.mean_nrmse``, 0 for a
        curve that starts at the initial condition).
      ylim: y limits; the default frames nRMSE in [0, 1] with a margin, ``None`` autoscales.
      xlim: x limits, ``None`` for the full horizon.
      log_scale: logarithmic y axis (then ``ylim=None`` is usually wanted).
      title, ylabel: axis texts.
      ax: axes to draw into; a new figure otherwise.
    """
    if not curves:
        raise ValueError("curves must hold at least one {name: (H,)} entry, got an empty mapping")
    figure, ax = _figure_and_axes(ax, (6.0, 4.0))
    for name, curve in curves.items():
        curve = np.asarray(curve)
        if curve.ndim != 1:
            raise ValueError(f"curves[{name!r}] must have shape (H,), got shape {curve.shape}")
        ax.plot(np.arange(first_step, first_step + curve.shape[0]), curve, label=name)
    if log_scale:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel("Time step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
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
