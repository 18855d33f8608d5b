"""The configuration schematic draws exactly the steps, loss terms and gradient cuts its configuration
computes (emutrain.viz.plot_configuration_schematic)."""

import dataclasses

import jax
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
    "supervised_one_step": (lambda lf: c.Supervised(1, time_level_loss=lf), 1, 0, 0),
    "supervised_rollout": (lambda lf: c.Supervised(3, time_level_loss=lf), 3, 0, 0),
    "supervised_cut_every_step": (lambda lf: c.Supervised(3, cut_bptt=True, time_level_loss=lf), 3, 0, 2),
    # Cuts after levels 2 and 4; level 4 is the last, so only one cut detaches a step.
    "supervised_cut_every_2": (
        lambda lf: c.Supervised(4, cut_bptt=True, cut_bptt_every=2, time_level_loss=lf),
        4,
        0,
        1,
    ),
    "diverted_branch_one": (lambda lf: c.DivertedChainBranchOne(3, time_level_loss=lf), 3, 3, 0),
    "diverted_branch_one_cuts": (
        lambda lf: c.DivertedChainBranchOne(2, cut_bptt=True, cut_div_chain=True, time_level_loss=lf),
        2,
        2,
        3,
    ),
    "diverted_chain_b1": (lambda lf: c.DivertedChain(3, 1, time_level_loss=lf), 3, 3, 0),
    # Three branch starts (levels 0, 1, 2) of two reference steps each.
    "diverted_chain_b2": (lambda lf: c.DivertedChain(4, 2, time_level_loss=lf), 6, 6, 0),
    "mix_chain": (lambda lf: c.MixChainPostPhysics(2, num_post_physics_steps=2, time_level_loss=lf), 4, 2, 0),
    # The cut network state at level 1 feeds the post-physics steps.
    "mix_chain_cut": (
        lambda lf: c.MixChainPostPhysics(1, num_post_physics_steps=2, cut_bptt=True, time_level_loss=lf),
        3,
        2,
        1,
    ),
    "residuum": (lambda lf: c.Residuum(3, time_level_loss=lf), 3, 0, 0),
    "residuum_cut_prev": (lambda lf: c.Residuum(3, cut_prev=True, time_level_loss=lf), 3, 0, 3),
    "teacher_forcing": (lambda lf: c.TeacherForcing(4, reset_every=2, time_level_loss=lf), 4, 0, 0),
    # Levels 1..4 are cut; level 2 is replaced by the reset and level 4 is the last.
    "teacher_forcing_cut": (
        lambda lf: c.TeacherForcing(4, reset_every=2, cut_bptt=True, time_level_loss=lf),
        4,
        0,
        2,
    ),
    "composite": (
        lambda lf: c.Composite(
            [c.Supervised(1, time_level_loss=lf), c.DivertedChainBranchOne(3, time_level_loss=lf)],
            weights=[1.0, 0.5],
        ),
        4,
        3,
        0,
    ),
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
    figure = viz.plot_configuration_schematic(
        c.Supervised(3, time_level_weights=[0.0, 0.0, 1.0], cut_bptt=True)
    )
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


@dataclasses.dataclass(frozen=True)
class StoredPhysicsTargets(c.Configuration):
    """A configuration defined here, drawn without any change to viz: the network chain is compared at
    each level t+1 with one reference step from the stored level t, ``L = sum_t w_t l(u_{t+1},
    P(data[:, t]))``, the target optionally read through stop_gradient."""

    cut_target: bool = dataclasses.field(default=False, kw_only=True)
    needs_ref_stepper = True

    def _loss(self, stepper, data, *, ref_stepper, residuum_fn, key):
        u, loss, cut = (
            self.initial_condition(data, key),
            0.0,
            self.cut_mask(np.arange(self.num_rollout_steps)),
        )
        for t, weight in enumerate(self._level_weights()):
            u = stepper(u)
            target = ref_stepper(data[:, t])
            target = jax.lax.stop_gradient(target) if self.cut_target else target
            loss = loss + weight * self.time_level_loss(u, target)
            u = jax.lax.stop_gradient(u) if cut[t] else u
        return loss

    def _describe_chain(self, chain):
        levels = self._network_chain(chain)
        for t, weight in enumerate(self._level_weights()):
            start = levels[0] if t == 0 else chain.node(t, -1, "data")
            target = chain.node(t + 1, -2, "reference")
            chain.step(start, target, "reference")
            chain.loss("pair", levels[t + 1], target, weight, cut=(False, self.cut_target))


def markers(figure, gid):
    """Centres of the node markers of kind ``gid`` ("state" or "data")."""
    points = [(a.get_xdata()[0], a.get_ydata()[0]) for a in figure.findobj(lambda a: a.get_gid() == gid)]
    return sorted((float(x), float(y)) for x, y in points)


def arrows(figure, gid):
    """(start, end) of each step arrow of kind ``gid``."""
    found = figure.findobj(lambda a: isinstance(a, Annotation) and a.get_gid() == gid)
    return sorted((tuple(map(float, a.xyann)), tuple(map(float, a.xy))) for a in found)


def test_a_new_configuration_is_drawn_from_its_own_description():
    configuration = StoredPhysicsTargets(
        3, cut_bptt=True, cut_target=True, time_level_weights=[1.0, 2.0, 0.5]
    )
    description = configuration.describe_chain()
    assert description.label == "StoredPhysicsTargets(R=3, cut_bptt)"
    # Hand-built expectation: lane 0 main chain, lane -1 stored levels 1, 2, lane -2 reference targets.
    assert [(n.level, n.lane, n.source) for n in description.nodes] == [
        (0, 0, "data"),
        (1, 0, "network"),
        (2, 0, "network"),
        (3, 0, "network"),
        (1, -2, "reference"),
        (1, -1, "data"),
        (2, -2, "reference"),
        (2, -1, "data"),
        (3, -2, "reference"),
    ]
    assert [(s.start, s.end, s.stepper, s.cut) for s in description.steps] == [
        (0, 1, "network", False),
        (1, 2, "network", True),
        (2, 3, "network", True),
        (0, 4, "reference", False),
        (5, 6, "reference", False),
        (7, 8, "reference", False),
    ]
    assert [(term.kind, term.inputs, term.weight, term.cut) for term in description.losses] == [
        ("pair", (1, 4), 1.0, (False, True)),
        ("pair", (2, 6), 2.0, (False, True)),
        ("pair", (3, 8), 0.5, (False, True)),
    ]

    loss, network, reference = Counter(MSELoss()), Counter(lambda u: 0.9 * u), Counter(lambda u: 0.8 * u)
    data = np.linspace(0.0, 1.0, 2 * 4 * 8).reshape(2, 4, 8, 1).astype(np.float32)
    dataclasses.replace(configuration, time_level_loss=loss)(network, data, ref_stepper=reference)
    assert network.calls == description.num_steps("network") == 3
    assert reference.calls == description.num_steps("reference") == 3
    assert loss.calls == len(description.losses) == 3

    figure = viz.plot_configuration_schematic(configuration)
    assert figure.axes[0].get_title() == description.label
    # Lane 0 is drawn at the height of the initial condition; every other lane one unit per lane below.
    y0 = [y for x, y in markers(figure, "data") if x == 0.0][0]
    position = {i: (float(n.level), y0 + n.lane) for i, n in enumerate(description.nodes)}
    assert markers(figure, "data") == sorted(
        position[i] for i, n in enumerate(description.nodes) if n.source == "data"
    )
    assert markers(figure, "state") == sorted(
        position[i] for i, n in enumerate(description.nodes) if n.source != "data"
    )
    for kind in ("network", "reference"):
        expected = sorted(
            (position[s.start], position[s.end]) for s in description.steps if s.stepper == kind
        )
        assert arrows(figure, kind) == expected
    assert drawn(figure, "loss") == 3 and drawn(figure, "cut") == description.num_cuts == 2 + 3
    assert labels(figure) == ["1", "2", "0.5"]
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert ticks == ["main chain", "data"]


def test_a_composite_holding_a_new_configuration_draws_each_part_with_its_weight():
    inner = c.Composite([StoredPhysicsTargets(2), c.Residuum(2, cut_next=True)], weights=[2.0, 1.0])
    composite = c.Composite([c.Supervised(1), inner], weights=[1.0, 0.25])
    description = composite.describe_chain()
    assert description.weights == (1.0, 0.5, 0.25)  # the inner composite is flattened, weights multiplied
    assert [part.label for part in description.parts] == [
        "Supervised(R=1)",
        "StoredPhysicsTargets(R=2)",
        "Residuum(R=2, cut_next)",
    ]
    loss, reference, residuum_fn = Counter(MSELoss()), Counter(lambda u: 0.8 * u), Counter(lambda n, p: n - p)
    traced = c.Composite(
        [
            c.Supervised(1, time_level_loss=loss),
            c.Composite(
                [
                    StoredPhysicsTargets(2, time_level_loss=loss),
                    c.Residuum(2, cut_next=True, time_level_loss=loss),
                ],
                weights=[2.0, 1.0],
            ),
        ],
        weights=[1.0, 0.25],
    )
    data = np.linspace(0.0, 1.0, 2 * 3 * 8).reshape(2, 3, 8, 1).astype(np.float32)
    traced(lambda u: 0.9 * u, data, ref_stepper=reference, residuum_fn=residuum_fn)

    figure = viz.plot_configuration_schematic(composite)
    assert loss.calls == drawn(figure, "loss") == sum(len(part.losses) for part in description.parts) == 5
    assert reference.calls == drawn(figure, "reference") == 2
    assert drawn(figure, "residuum") == 2 * residuum_fn.calls == 4
    assert drawn(figure, "network") == 1 + 2 + 2 and drawn(figure, "cut") == 2
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert ticks == [
        "1 x Supervised(R=1)",
        "data",
        "0.5 x StoredPhysicsTargets(R=2)",
        "data",
        "0.25 x Residuum(R=2, cut_next)",
    ]
