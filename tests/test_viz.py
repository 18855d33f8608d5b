"""Plots draw the data they are given and rasterize to the expected images (emutrain.viz)."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from emutrain import viz
from emutrain.evaluate import Evaluation, RolloutMetrics


def sine_trajectory(num_steps=6, num_points=8, num_channels=2):
    """``(T+1, N, C)``: sin(2 pi (x - 0.1 t)) in channel 0 and its double in channel 1."""
    x = np.arange(num_points) / num_points
    t = np.arange(num_steps + 1)[:, None]
    base = np.sin(2 * np.pi * (x[None] - 0.1 * t))
    return np.stack([base * (c + 1) for c in range(num_channels)], axis=-1)


def test_figure_to_array_shape_dtype_and_content():
    figure = Figure(figsize=(2.0, 1.0), dpi=50)
    figure.add_subplot().plot([0, 1], [0, 1], color="black")
    rgb = viz.figure_to_array(figure)
    rgba = viz.figure_to_array(figure, include_alpha=True)
    assert rgb.shape == (50, 100, 3) and rgb.dtype == np.uint8
    assert rgba.shape == (50, 100, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    np.testing.assert_array_equal(rgb[0, 0], [255, 255, 255])  # white margin
    assert (rgb < 64).all(axis=-1).any()  # the black line and axes
    assert viz.figure_to_array(figure, dpi=100).shape == (100, 200, 3)


def test_nrmse_curves_draw_every_model_from_step_one():
    curves = {"a": np.linspace(0.0, 0.5, 10), "b": np.linspace(0.1, 20.0, 5)}
    figure = viz.plot_nrmse_curves(curves, title="t", dashed=("b",))
    ax = figure.axes[0]
    # The reference line at 1 first, then the curves in order.
    assert [line.get_label() for line in ax.lines[1:]] == ["a", "b"]
    assert [line.get_linestyle() for line in ax.lines] == [":", "-", "--"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [1.0, 1.0])
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), np.arange(1, 11))
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), curves["b"])
    # Log scale by default; the zero error at step 1 has no place on it and is left out of the line.
    assert ax.get_yscale() == "log"
    assert np.isnan(ax.lines[1].get_ydata()[0]) and np.isfinite(ax.lines[1].get_ydata()[1:]).all()
    # Autoscaled: every value lies inside the frame.
    low, high = ax.get_ylim()
    assert low <= 0.5 / 9 and high >= 20.0
    linear = viz.plot_nrmse_curves({"c": np.zeros(3)}, first_step=0, log_scale=False, reference_level=None)
    np.testing.assert_array_equal(linear.axes[0].lines[0].get_xdata(), [0, 1, 2])
    np.testing.assert_array_equal(linear.axes[0].lines[0].get_ydata(), [0, 0, 0])
    assert linear.axes[0].get_yscale() == "linear" and len(linear.axes[0].lines) == 1
    framed = viz.plot_nrmse_curves(curves, ylim=(0.01, 2.0))
    assert framed.axes[0].get_ylim() == pytest.approx((0.01, 2.0))


def _metrics(mean_nrmse):
    mean_nrmse = np.asarray(mean_nrmse, dtype=np.float32)
    ones = np.ones_like(mean_nrmse)
    return RolloutMetrics(mean_nrmse, ones, 1.0, 1, mean_nrmse[None], ones[None])


def test_evaluation_figures_show_every_step_the_baselines_and_the_rollouts():
    horizon = 200
    model = np.geomspace(1e-3, 30.0, horizon)  # leaves [0, 1.05] at step ~130: must stay in the frame
    coarse = np.full(horizon, 0.5)
    references = np.stack([sine_trajectory(num_steps=horizon, num_points=8, num_channels=1)] * 2)
    predictions = references + 0.25
    evaluation = Evaluation(_metrics(model), {"coarse": _metrics(coarse)}, predictions, references)
    figures = viz.evaluation_figures(evaluation, step=40, domain_extent=2.0)
    assert sorted(figures) == ["nrmse", "rollout_0", "rollout_1"]
    ax = figures["nrmse"].axes[0]
    assert ax.get_yscale() == "log" and "step 40" in ax.get_title()
    lines = {line.get_label(): line for line in ax.lines}
    np.testing.assert_array_equal(lines["model"].get_xdata(), np.arange(1, horizon + 1))
    np.testing.assert_allclose(lines["model"].get_ydata(), model, rtol=1e-6)
    assert lines["model"].get_linestyle() == "-" and lines["coarse"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["coarse"].get_ydata(), coarse)
    assert any(np.array_equal(line.get_ydata(), [1.0, 1.0]) for line in ax.lines)
    low, high = ax.get_ylim()
    assert low <= model.min() and high >= model.max()
    images = [a.get_images()[0] for a in figures["rollout_1"].axes if a.get_images()]
    np.testing.assert_allclose(images[0].get_array(), references[1, ..., 0].T)
    np.testing.assert_allclose(images[2].get_array(), np.full_like(references[1, ..., 0].T, 0.25))
    assert images[0].get_extent()[3] == pytest.approx(2.0)
    no_rollouts = viz.evaluation_figures(Evaluation(_metrics(model), {}, None, None))
    assert list(no_rollouts) == ["nrmse"] and "step" not in no_rollouts["nrmse"].axes[0].get_title()
    assert [line.get_label() for line in no_rollouts["nrmse"].axes[0].lines][1:] == ["model"]


def test_evaluation_figures_draw_2d_rollouts_as_snapshots():
    rng = np.random.default_rng(0)
    references = rng.normal(size=(1, 7, 4, 5, 2))  # (P, H+1, N_x, N_y, C)
    predictions = references * 2.0
    evaluation = Evaluation(_metrics(np.ones(6)), {}, predictions, references)
    figure = viz.evaluation_figures(evaluation)["rollout_0"]
    image_axes = [a for a in figure.axes if a.get_images()]
    assert len(image_axes) == 12  # reference / prediction / error rows at t = 0, 2, 4, 6
    assert [a.get_title() for a in image_axes[:4]] == ["t = 0", "t = 2", "t = 4", "t = 6"]
    np.testing.assert_allclose(image_axes[1].get_images()[0].get_array(), references[0, 2, ..., 0].T)
    np.testing.assert_allclose(image_axes[5].get_images()[0].get_array(), predictions[0, 2, ..., 0].T)
    np.testing.assert_allclose(image_axes[11].get_images()[0].get_array(), references[0, 6, ..., 0].T)
    with pytest.raises(TypeError, match="evaluation"):
        viz.evaluation_figures({"eval/mean_nrmse": 1.0})


def test_spatio_temporal_image_is_the_chosen_channel_time_on_x():
    trajectory = sine_trajectory()
    batch = np.stack([trajectory, -trajectory])
    figure = viz.plot_spatio_temporal(batch, sample=1, channel=1, domain_extent=2.0)
    image = figure.axes[0].get_images()[0]
    np.testing.assert_allclose(image.get_array(), -trajectory[..., 1].T)
    assert image.get_clim() == pytest.approx((-2.0, 2.0), abs=1e-6)
    assert image.get_extent() == pytest.approx([-0.5, 6.5, 0.0, 2.0])


def test_color_limits_at_zero_are_kept():
    """A limit of 0 is a limit (not "unset"), and limits given as an array work as a tuple does."""
    trajectory = sine_trajectory()
    image = viz.plot_spatio_temporal(trajectory, vlim=(0, 1)).axes[0].get_images()[0]
    assert image.get_clim() == (0.0, 1.0)
    image = viz.plot_spatio_temporal(trajectory, vlim=np.array([-0.5, 0.0])).axes[0].get_images()[0]
    assert image.get_clim() == (-0.5, 0.0)
    image = viz.plot_state_2d(np.zeros((4, 4, 1)), vlim=(0.0, 0.25)).axes[0].get_images()[0]
    assert image.get_clim() == (0.0, 0.25)
    image = viz.plot_state_2d(np.zeros((4, 4, 1))).axes[0].get_images()[0]
    assert image.get_clim() == (-1.0, 1.0)  # unset on an all-zero field: symmetric, never empty
    with pytest.raises(ValueError, match=r"vlim must be two finite numbers with low < high, got \(0, 0\)"):
        viz.plot_spatio_temporal(trajectory, vlim=(0, 0))
    with pytest.raises(TypeError, match=r"vlim must be None or two numbers \(low, high\), got 0"):
        viz.plot_state_2d(np.zeros((4, 4, 1)), vlim=0)


def test_rollout_comparison_panels_are_reference_prediction_error():
    ref = sine_trajectory()
    pred = ref + 0.25
    figure = viz.plot_rollout_comparison(pred[None], ref[None], channel=0)
    images = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert len(images) == 3
    np.testing.assert_allclose(images[0].get_array(), ref[..., 0].T)
    np.testing.assert_allclose(images[1].get_array(), pred[..., 0].T)
    np.testing.assert_allclose(images[2].get_array(), np.full_like(ref[..., 0].T, 0.25))
    assert images[1].get_clim() == images[0].get_clim()


def test_state_plots_use_the_periodic_grid():
    state = sine_trajectory()[0]
    figure = viz.plot_state_1d(state, domain_extent=4.0, labels=["u", "v"])
    lines = figure.axes[0].lines
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(8) * 0.5)  # right endpoint excluded
    np.testing.assert_allclose(lines[1].get_ydata(), state[:, 1])
    field = np.arange(4 * 5 * 2, dtype=float).reshape(4, 5, 2)
    image = viz.plot_state_2d(field, channel=1).axes[0].get_images()[0]
    np.testing.assert_allclose(image.get_array(), field[..., 1].T)


def test_plots_into_given_axes_and_files(tmp_path):
    figure = Figure()
    axes = figure.subplots(1, 2)
    assert viz.plot_state_1d(sine_trajectory()[:2, :, :1], ax=axes[0]) is figure
    assert viz.plot_spatio_temporal(sine_trajectory(), ax=axes[1]) is figure
    path = tmp_path / "plots" / "nested" / "curves.png"
    viz.save_figure(viz.plot_nrmse_curves({"m": np.ones(4)}), path, dpi=40)
    saved = matplotlib.image.imread(path)
    assert saved.shape[:2] == (160, 240)  # default 6 x 4 inches at 40 dpi
    viz.save_figure(figure, tmp_path / "two.png")
    assert (tmp_path / "two.png").stat().st_size > 0
    image = viz.figure_to_array(figure, dpi=30)
    viz.save_image(image, tmp_path / "images" / "two.png")
    np.testing.assert_array_equal(
        np.round(matplotlib.image.imread(tmp_path / "images" / "two.png")[..., :3] * 255), image
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: viz.plot_spatio_temporal(np.zeros((3, 4))), "trajectory"),
        (lambda: viz.plot_spatio_temporal(np.zeros((2, 3, 4, 1)), sample=2), "sample"),
        (lambda: viz.plot_spatio_temporal(np.zeros((3, 4, 1)), channel=1), "channel"),
        (lambda: viz.plot_rollout_comparison(np.zeros((3, 4, 1)), np.zeros((3, 5, 1))), "pred and ref"),
        (lambda: viz.plot_nrmse_curves({}), "curves"),
        (lambda: viz.plot_nrmse_curves({"m": np.zeros((2, 2))}), "curves"),
        (lambda: viz.plot_state_1d(np.zeros((2, 3, 4, 1))), "state"),
        (lambda: viz.plot_state_1d(np.zeros((4, 2)), labels=["u"]), "labels"),
        (lambda: viz.plot_state_2d(np.zeros((4, 4))), "state"),
        (lambda: viz.save_image(np.zeros((4, 4, 3)), "x.png"), "image"),
    ],
)
def test_bad_arguments_name_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_figure_functions_reject_non_figures(tmp_path):
    with pytest.raises(TypeError, match="figure"):
        viz.figure_to_array(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="figure"):
        viz.save_figure("not a figure", tmp_path / "x.png")
