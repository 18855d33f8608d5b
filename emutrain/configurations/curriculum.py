"""Rollout-length curriculum: a piecewise-constant schedule of R over the training steps."""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from emutrain.configurations._base import Configuration
from emutrain.configurations.with_steppers import WithSteppers
from emutrain.validation import check_int

__all__ = ["RolloutCurriculum"]


@dataclass(frozen=True)
class RolloutCurriculum:
    """Configuration for a training step under a schedule of ``num_rollout_steps``.

    ``num_rollout_steps[i]`` applies from training step ``boundaries[i-1]`` (0 for i = 0) up to, not
    including, ``boundaries[i]``; so ``len(num_rollout_steps) == len(boundaries) + 1``. Calling the
    curriculum with a step returns ``dataclasses.replace(configuration, num_rollout_steps=R)``, the same
    object for every step with the same R. ``configuration.time_level_weights`` must be None (its
    length would change with R).

    ``emutrain.train.Trainer`` takes a curriculum in place of a configuration: the step schedule is by
    update count (so a resumed run continues it exactly), with one compile per distinct R. Every step
    reads windows of ``required_window_length`` (the longest any R needs); a configuration with rollout
    R uses only their first R + 1 time levels.

    ``configuration`` may be a :class:`WithSteppers` around a configuration: the curriculum then replaces
    R in the inner configuration and keeps the held steppers.

    Example: ``RolloutCurriculum(Supervised(1), boundaries=(1000, 3000), num_rollout_steps=(1, 3, 5))``.
    """

    configuration: Configuration | WithSteppers
    boundaries: Sequence[int]
    num_rollout_steps: Sequence[int]
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(_inner(self.configuration), Configuration):
            raise TypeError(
                f"configuration must be a Configuration or a WithSteppers of one, got {self.configuration!r}"
            )
        boundaries, lengths = tuple(self.boundaries), tuple(self.num_rollout_steps)
        if len(lengths) != len(boundaries) + 1:
            raise ValueError(
                f"num_rollout_steps must have len(boundaries) + 1 = {len(boundaries) + 1} entries, "
                f"got {len(lengths)}"
            )
        for b in boundaries:
            check_int("boundaries[i]", b, minimum=1)
        if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
        for r in lengths:
            check_int("num_rollout_steps[i]", r, minimum=1)
        weights = _inner(self.configuration).time_level_weights
        if weights is not None:
            raise ValueError(
                f"configuration.time_level_weights must be None in a curriculum (its length changes with "
                f"num_rollout_steps), got {weights!r}"
            )
        object.__setattr__(self, "boundaries", boundaries)
        object.__setattr__(self, "num_rollout_steps", lengths)

    @property
    def max_window_length(self) -> int:
        """Longest window any step of the schedule needs (pick ``sub_trajectory_len`` from it)."""
        return max(self.at_rollout(r).required_window_length for r in self.num_rollout_steps)

    @property
    def required_window_length(self) -> int:
        """The window length data for the whole schedule must have (``max_window_length``), under the
        name configurations use."""
        return self.max_window_length

    def rollout_steps_at(self, step: int) -> int:
        """R at training step ``step`` (an int >= 0)."""
        check_int("step", step, minimum=0)
        return self.num_rollout_steps[bisect.bisect_right(self.boundaries, step)]

    def at_rollout(self, num_rollout_steps: int) -> Configuration | WithSteppers:
        """The configuration with R = ``num_rollout_steps`` (built once per R)."""
        if num_rollout_steps not in self._cache:
            conf = self.configuration
            inner = dataclasses.replace(_inner(conf), num_rollout_steps=num_rollout_steps)
            self._cache[num_rollout_steps] = (
                dataclasses.replace(conf, configuration=inner) if isinstance(conf, WithSteppers) else inner
            )
        return self._cache[num_rollout_steps]

    def __call__(self, step: int) -> Configuration | WithSteppers:
        """The configuration for training step ``step``."""
        return self.at_rollout(self.rollout_steps_at(step))


def _inner(configuration: Any) -> Any:
    """The configuration a :class:`WithSteppers` holds, or ``configuration`` itself."""
    return configuration.configuration if isinstance(configuration, WithSteppers) else configuration
