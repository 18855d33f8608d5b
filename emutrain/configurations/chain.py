"""What a configuration unrolls, as data: the states of its chain, the steps between them, the loss terms
and the gradient cuts (``Configuration.describe_chain()``).

A description is enough to draw the chain (``emutrain.viz.plot_configuration_schematic``) and to check it
against a traced loss: every ``ChainStep`` is one call of the network or the reference stepper, every
``ChainLoss`` one call of ``time_level_loss`` (a ``"residuum"`` term also one call of ``residuum_fn``).

Layout: a state sits at a time level (x) and a lane (y): lane 0 is the main chain, whose level 0 is the
stored initial condition; negative lanes hold stored data (-1) and states made from it; positive lanes
hold branches off the main chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emutrain.validation import check_choice, check_int, check_real

__all__ = [
    "ChainNode",
    "ChainStep",
    "ChainLoss",
    "ChainDescription",
    "CompositeChain",
    "ChainBuilder",
    "SOURCES",
    "STEPPERS",
    "LOSS_KINDS",
]

SOURCES = ("data", "network", "reference")
"""Where a state comes from: the stored window, a network step or a reference (physics) step."""
STEPPERS = ("network", "reference")
LOSS_KINDS = ("pair", "residuum")


@dataclass(frozen=True)
class ChainNode:
    """One state of the chain: at time ``level`` on ``lane``, produced by ``source`` (one of SOURCES)."""

    level: int
    lane: int
    source: str


@dataclass(frozen=True)
class ChainStep:
    """One stepper call from state ``start`` to state ``end`` (indices into ``ChainDescription.nodes``).

    ``cut``: the step reads its input through ``stop_gradient``, so no gradient flows back through it into
    ``start``.
    """

    start: int
    end: int
    stepper: str
    cut: bool = False


@dataclass(frozen=True)
class ChainLoss:
    """One loss term ``weight * l(...)``.

    ``kind="pair"``: ``l(nodes[inputs[0]], nodes[inputs[1]])`` (prediction, target).
    ``kind="residuum"``: ``l(rho(next, previous))`` with ``inputs == (next, previous)``.
    ``cut[i]``: input i enters through ``stop_gradient``.
    """

    kind: str
    inputs: tuple[int, int]
    weight: float = 1.0
    cut: tuple[bool, bool] = (False, False)


@dataclass(frozen=True)
class ChainDescription:
    """The unrolled chain of one configuration; ``label`` names it with its non-default options."""

    label: str
    nodes: tuple[ChainNode, ...]
    steps: tuple[ChainStep, ...]
    losses: tuple[ChainLoss, ...]

    def num_steps(self, stepper: str) -> int:
        """Number of calls of ``stepper`` (``"network"`` or ``"reference"``)."""
        return sum(step.stepper == check_choice("stepper", stepper, STEPPERS) for step in self.steps)

    @property
    def num_cuts(self) -> int:
        """Number of stop_gradient sites: cut step inputs and cut loss inputs."""
        return sum(step.cut for step in self.steps) + sum(sum(loss.cut) for loss in self.losses)

    @property
    def last_level(self) -> int:
        return max(node.level for node in self.nodes)


@dataclass(frozen=True)
class CompositeChain:
    """A weighted sum of chains: ``L = sum_i weights[i] * L(parts[i])`` (nested sums flattened)."""

    label: str
    parts: tuple[ChainDescription, ...]
    weights: tuple[float, ...]


@dataclass
class ChainBuilder:
    """Collects nodes, steps and loss terms; a state is identified by its (level, lane)."""

    nodes: list[ChainNode] = field(default_factory=list)
    steps: list[ChainStep] = field(default_factory=list)
    losses: list[ChainLoss] = field(default_factory=list)
    _index: dict[tuple[int, int], int] = field(default_factory=dict)

    def node(self, level: int, lane: int, source: str) -> int:
        """Index of the state at (level, lane), added if new; a state has one source."""
        key = (check_int("level", level, minimum=0), check_int("lane", lane))
        check_choice("source", source, SOURCES)
        if key in self._index:
            index = self._index[key]
            if self.nodes[index].source != source:
                raise ValueError(
                    f"the state at (level, lane) = {key} comes from {self.nodes[index].source}, not {source}"
                )
            return index
        self._index[key] = len(self.nodes)
        self.nodes.append(ChainNode(*key, source))
        return self._index[key]

    def _check_node(self, name: str, index: int) -> int:
        return check_int(name, index, minimum=0, maximum=len(self.nodes) - 1)

    def step(self, start: int, end: int, stepper: str, *, cut: bool = False) -> None:
        """One call of ``stepper`` from state ``start`` to state ``end``."""
        self._check_node("start", start)
        self._check_node("end", end)
        check_choice("stepper", stepper, STEPPERS)
        if self.nodes[end].source != stepper:
            raise ValueError(f"a {stepper} step must end in a {stepper} state, got {self.nodes[end]}")
        self.steps.append(ChainStep(start, end, stepper, bool(cut)))

    def loss(
        self,
        kind: str,
        first: int,
        second: int,
        weight: float = 1.0,
        *,
        cut: tuple[bool, bool] = (False, False),
    ) -> None:
        """One loss term on the states ``first`` and ``second`` (see ``ChainLoss``)."""
        check_choice("kind", kind, LOSS_KINDS)
        inputs = (self._check_node("first", first), self._check_node("second", second))
        cut = (bool(cut[0]), bool(cut[1]))
        self.losses.append(ChainLoss(kind, inputs, check_real("weight", weight), cut))

    def build(self, label: str) -> ChainDescription:
        return ChainDescription(label, tuple(self.nodes), tuple(self.steps), tuple(self.losses))
