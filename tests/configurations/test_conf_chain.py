"""Each configuration's describe_chain() states exactly the chain its loss computes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conf_problem import ref_stepper, residuum_fn, window

from emutrain.configurations import (
    ChainBuilder,
    Composite,
    Configuration,
    DivertedChain,
    DivertedChainBranchOne,
    MixChainPostPhysics,
    Residuum,
    Supervised,
    TeacherForcing,
)
from emutrain.losses import MSELoss


class Counter:
    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


def table(description):
    """Nodes, steps and losses as plain tuples."""
    return (
        [(n.level, n.lane, n.source) for n in description.nodes],
        [(s.start, s.end, s.stepper, s.cut) for s in description.steps],
        [(term.kind, term.inputs, term.weight, term.cut) for term in description.losses],
    )


def test_supervised_with_cuts_every_two_levels_hand_built():
    conf = Supervised(4, cut_bptt=True, cut_bptt_every=2, time_level_weights=(0.0, 1.0, 2.0, 3.0))
    nodes, steps, losses = table(conf.describe_chain())
    assert nodes == [
        (0, 0, "data"),
        (1, 0, "network"),
        (2, 0, "network"),
        (3, 0, "network"),
        (4, 0, "network"),
        (1, -1, "data"),
        (2, -1, "data"),
        (3, -1, "data"),
        (4, -1, "data"),
    ]
    # Level 2 is cut (stop_gradient after step 2), so the step from it reads a detached state.
    assert steps == [
        (0, 1, "network", False),
        (1, 2, "network", False),
        (2, 3, "network", True),
        (3, 4, "network", False),
    ]
    assert losses == [("pair", (t, t + 4), float(t - 1), (False, False)) for t in range(1, 5)]
    assert conf.describe_chain().label == "Supervised(R=4, cut_bptt every 2)"


def test_pushforward_cuts_the_first_steps():
    _, steps, _ = table(Supervised(3, pushforward_steps=2).describe_chain())
    assert [s[3] for s in steps] == [False, True, True]


def test_teacher_forcing_restarts_from_the_stored_level():
    nodes, steps, _ = table(TeacherForcing(4, reset_every=2, cut_bptt=True).describe_chain())
    start_of = [nodes[s[0]] for s in steps]
    assert start_of == [(0, 0, "data"), (1, 0, "network"), (2, -1, "data"), (3, 0, "network")]
    assert [s[3] for s in steps] == [False, True, False, True]


def test_mix_chain_continues_with_reference_steps_compared_to_data():
    conf = MixChainPostPhysics(2, 2, cut_bptt=True, cut_bptt_every=2, time_level_weights=(1.0, 2.0, 3.0, 4.0))
    nodes, steps, losses = table(conf.describe_chain())
    assert [nodes[s[1]] for s in steps] == [
        (1, 0, "network"),
        (2, 0, "network"),
        (3, 0, "reference"),
        (4, 0, "reference"),
    ]
    assert [s[2:] for s in steps] == [
        ("network", False),
        ("network", False),
        ("reference", True),
        ("reference", False),
    ]
    assert [(nodes[a], nodes[b], w) for _, (a, b), w, _ in losses] == [
        ((t, 0, "network" if t <= 2 else "reference"), (t, -1, "data"), float(t)) for t in range(1, 5)
    ]


@pytest.mark.parametrize("options", [{}, {"cut_div_chain": True}, {"cut_bptt": True, "pushforward_steps": 1}])
def test_diverted_chain_with_one_branch_step_describes_branch_one(options):
    one = DivertedChainBranchOne(3, time_level_weights=(1.0, 0.5, 2.0), **options).describe_chain()
    general = DivertedChain(3, 1, time_level_weights=(1.0, 0.5, 2.0), **options).describe_chain()
    assert table(one) == table(general)


def test_diverted_chain_branch_weights_multiply_and_overlapping_branches_use_two_lanes():
    conf = DivertedChain(
        3, 2, time_level_weights=(1.0, 3.0), branch_level_weights=(0.5, 2.0), cut_div_chain=True
    )
    nodes, steps, losses = table(conf.describe_chain())
    reference = [s for s in steps if s[2] == "reference"]
    assert [(nodes[s[0]], nodes[s[1]], s[3]) for s in reference] == [
        ((0, 0, "data"), (1, 1, "reference"), True),
        ((1, 1, "reference"), (2, 1, "reference"), False),
        ((1, 0, "network"), (2, 2, "reference"), True),
        ((2, 2, "reference"), (3, 2, "reference"), False),
    ]
    assert [(nodes[a][:2], nodes[b][:2], w) for _, (a, b), w, _ in losses] == [
        ((1, 0), (1, 1), 0.5),
        ((2, 0), (2, 1), 2.0),
        ((2, 0), (2, 2), 1.5),
        ((3, 0), (3, 2), 6.0),
    ]


def test_residuum_terms_read_next_and_previous_with_their_cuts():
    _, _, losses = table(Residuum(2, cut_prev=True, time_level_weights=(1.0, 0.5)).describe_chain())
    assert losses == [("residuum", (1, 0), 1.0, (False, True)), ("residuum", (2, 1), 0.5, (False, True))]


CONFIGURATIONS = [
    Supervised(3, cut_bptt=True),
    TeacherForcing(3, reset_every=2),
    MixChainPostPhysics(2, 2),
    DivertedChainBranchOne(3, cut_div_chain=True),
    DivertedChain(3, 1),
    DivertedChain(4, 2),
    Residuum(3, cut_next=True),
]


@pytest.mark.parametrize("conf", CONFIGURATIONS, ids=lambda conf: conf.describe_chain().label)
def test_description_counts_the_traced_calls(conf):
    loss, network = Counter(MSELoss()), Counter(lambda u: 0.9 * u)
    reference, residuum = Counter(ref_stepper), Counter(residuum_fn)
    traced = dataclasses.replace(conf, time_level_loss=loss, unroll=True)
    traced(network, window(5), ref_stepper=reference, residuum_fn=residuum)
    description = conf.describe_chain()
    assert loss.calls == len(description.losses)
    assert reference.calls == description.num_steps("reference")
    assert residuum.calls == sum(term.kind == "residuum" for term in description.losses)
    if isinstance(conf, DivertedChain):
        # Each branch recomputes the main chain's states from its start: B calls per start, plus the
        # R - B main-chain advances; the description shows those states once, on the main chain.
        r, b = conf.num_rollout_steps, conf.num_branch_steps
        assert network.calls == (r - b + 1) * b + (r - b) and description.num_steps("network") == r
    else:
        assert network.calls == description.num_steps("network")


def test_composite_describes_its_parts_with_their_weights():
    description = Composite((Supervised(1), Residuum(2)), (2.0, 0.5)).describe_chain()
    assert description.weights == (2.0, 0.5)
    assert [table(part) for part in description.parts] == [
        table(Supervised(1).describe_chain()),
        table(Residuum(2).describe_chain()),
    ]


def test_builder_rejects_inconsistent_chains_and_undescribed_configurations():
    chain = ChainBuilder()
    start = chain.node(0, 0, "data")
    with pytest.raises(ValueError, match="comes from data, not network"):
        chain.node(0, 0, "network")
    end = chain.node(1, 0, "network")
    with pytest.raises(ValueError, match="a reference step must end in a reference state"):
        chain.step(start, end, "reference")
    with pytest.raises(ValueError, match="end must be <= 1"):
        chain.step(start, 2, "network")
    with pytest.raises(ValueError, match="kind must be one of"):
        chain.loss("triple", start, end)

    @dataclasses.dataclass(frozen=True)
    class Undescribed(Configuration):
        pass

    with pytest.raises(NotImplementedError, match="Undescribed does not describe its chain"):
        Undescribed(1).describe_chain()
    assert np.isclose(sum(DivertedChain(2, 2).describe_chain().losses[i].weight for i in range(2)), 2.0)
