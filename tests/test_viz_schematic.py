"""The configuration schematic draws exactly the steps, loss terms and gradient cuts its configuration
computes (emutrain.viz.plot_configuration_schematic)."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from emutrain import configurations as c
from emutrain import viz
from emutrain.losses import MSELoss


class Counter:
    """Counts how often the wrapped callable runs (the configurations run their steps eagerly here)."""

    def __init__(self, function):
        self.function = function
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


# (configuration factory taking a time_level_loss, hand count of loss terms, reference steps, cut markers).
# Cut markers: states after a cut step that feed a later step, plus cut_div_chain and cut_prev/cut_next legs.
CASES = {
    "supervised_one_step": (lambda l: c.Supervised(1, time_level_loss=l), 1, 0, 0),
    "supervised_rollout": (lambda l: c.Supervised(3, time_level_loss=l), 3, 0, 0),
    "supervised_cut_every_step": (lambda l: c.Supervised(3, cut_bptt=True, time_level_loss=l), 3, 0, 2),
    # Cuts after levels 2 and 4; level 4 is the last, so only one cut detaches a step.
    "supervised_cut_every_2": (lambda l: c.Supervised(4, cut_bptt=True, cut_bptt_every=2, time_level_loss=l), 4, 0, 1),
    "diverted_branch_one": (lambda l: c.DivertedChainBranchOne(3, time_level_loss=l), 3, 3, 0),
    "diverted_branch_one_cuts": (
        lambda l: c.DivertedChainBranchOne(2, cut_bptt=True, cut_div_chain=True, time_level_loss=l), 2, 2, 3),
    "diverted_chain_b1": (lambda l: c.DivertedChain(3, 1, time_level_loss=l), 3, 3, 0),
    # Three branch starts (levels 0, 1, 2) of two reference steps each.
    "diverted_chain_b2": (lambda l: c.DivertedChain(4, 2, time_level_loss=l), 6, 6, 0),
    "mix_chain": (lambda l: c.MixChainPostPhysics(2, num_post_physics_steps=2, time_level_loss=l), 4, 2, 0),
    # The cut network state at level 1 feeds the post-physics steps.
    "mix_chain_cut": (
        lambda l: c.MixChainPostPhysics(1, num_post_physics_steps=2, cut_bptt=True, time_level_loss=l), 3, 2, 1),
    "residuum": (lambda l: c.Residuum(3, time_level_loss=l), 3, 0, 0),
    "residuum_cut_prev": (lambda l: c.Residuum(3, cut_prev=True, time_level_loss=l), 3, 0, 3),
    "teacher_forcing": (lambda l: c.TeacherForcing(4, reset_every=2, time_level_loss=l), 4, 0, 0),
    # Levels 1..4 are cut; level 2 is replaced by the reset and level 4 is the last.
    "teacher_forcing_cut": (lambda l: c.TeacherForcing(4, reset_every=2, cut_bptt=True, time_level_loss=l), 4, 0, 2),
    "composite": (
        lambda l: c.Composite([c.Supervised(1, time_level_loss=l), c.DivertedChainBranchOne(3, time_level_loss=l)],
                              weights=[1.0, 0.5]), 4, 3, 0),
}


def drawn(figure, gid):
    return len(figure.findobj(lambda artist: artist.get_gid() == gid))


def num_network_steps(configuration):
    parts = getattr(configuration, "configurations", (configuration,))
    return sum(part.num_rollout_steps for part in parts)


@pytest.mark.parametrize("name", list(CASES))
def test_schematic_matches_the_traced_loss(name):
    factory, num_losses, num_reference_steps, num_cuts = CASES[name]
    loss = Counter(MSELoss())
    configuration = factory(loss)
    ref_stepper = Counter(lambda u: 0.8 * u)
    residuum_fn = Counter(lambda n, p: n - 0.8 * p)
    data = np.linspace(0.0, 1.0, 2 * 6 * 8).reshape(2, 6, 8, 1).astype(np.float32)
    configuration(lambda u: 0.9 * u, data, ref_stepper=ref_stepper, residuum_fn=residuum_fn)

    figure = viz.plot_configuration_schematic(configuration)

    assert loss.calls == num_losses
    assert drawn(figure, "loss") == num_losses
    assert ref_stepper.calls == drawn(figure, "reference") == num_reference_steps
    assert drawn(figure, "network") == num_network_steps(configuration)
    assert drawn(figure, "residuum") == 2 * residuum_fn.calls
    assert drawn(figure, "cut") == num_cuts


def labels(figure):
    """Plain texts of the axes (step arrows are annotations without text)."""
    return [t.get_text() for t in figure.axes[0].texts if not isinstance(t, Annotation)]


def test_weight_labels_and_title():
    figure = viz.plot_configuration_schematic(c.Supervised(3, time_level_weights=[0.0, 0.0, 1.0], cut_bptt=True))
    assert labels(figure) == ["0", "0", "1"]
    assert figure.axes[0].get_title() == "Supervised(R=3, cut_bptt)"
    # Default weights carry no labels.
    assert labels(viz.plot_configuration_schematic(c.Supervised(3))) == []


def test_draws_into_given_axes_and_rejects_other_objects():
    figure = Figure()
    axes = figure.subplots(1, 2)
    assert viz.plot_configuration_schematic(c.Residuum(2), ax=axes[1], legend=False) is figure
    assert drawn(figure, "loss") == 2 and axes[1].get_legend() is None
    with pytest.raises(TypeError, match="configuration must be"):
        viz.plot_configuration_schematic(MSELoss())
