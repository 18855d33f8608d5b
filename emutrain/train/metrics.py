"""CLU metrics accumulated on device inside the train step.

No `from __future__ import annotations` here: CLU's `Collection.empty` reads the class annotations as
types. Collections are built from CLU's public `Collection.empty` (which also sets CLU's reduction counter)
and filled with `replace`, so no private CLU name is used."""

import flax.struct
import jax
import jax.numpy as jnp
from clu import metrics as clu_metrics

NO_STEP = jnp.iinfo(jnp.int32).max
"""Value of `FirstNonFinite.step` while every step so far was finite."""


@flax.struct.dataclass
class FirstNonFinite(clu_metrics.Metric):
    """The first step (1-based update count) whose loss or gradient was NaN/Inf; `NO_STEP` if none."""

    step: jax.Array

    @classmethod
    def empty(cls) -> "FirstNonFinite":
        return cls(step=jnp.array(NO_STEP, jnp.int32))

    @classmethod
    def from_model_output(cls, step: jax.Array, finite: jax.Array, **_) -> "FirstNonFinite":
        return cls(step=jnp.where(finite, NO_STEP, step).astype(jnp.int32))

    def merge(self, other: "FirstNonFinite") -> "FirstNonFinite":
        return type(self)(step=jnp.minimum(self.step, other.step))

    def compute(self) -> jax.Array:
        return self.step


@flax.struct.dataclass
class Latest(clu_metrics.Metric):
    """The value of the latest applied step (NaN before any): a learning rate is reported as the one
    the last update used, not as an average over the window.

    The state holds no NaN (a `seen` flag instead): multi-process runs replicate it with a check that
    every process passes equal values, which NaN never is.
    """

    value: jax.Array
    seen: jax.Array

    @classmethod
    def empty(cls) -> "Latest":
        return cls(value=jnp.zeros((), jnp.float32), seen=jnp.zeros((), jnp.bool_))

    @classmethod
    def from_model_output(cls, value: jax.Array, applied: jax.Array, **_) -> "Latest":
        applied = jnp.asarray(applied, jnp.bool_)
        return cls(value=jnp.where(applied, value, 0.0).astype(jnp.float32), seen=applied)

    def merge(self, other: "Latest") -> "Latest":
        return type(self)(
            value=jnp.where(other.seen, other.value, self.value), seen=jnp.logical_or(self.seen, other.seen)
        )

    def compute(self) -> jax.Array:
        return jnp.where(self.seen, self.value, jnp.nan)


def _average(value: jax.Array, mask: jax.Array) -> clu_metrics.Average:
    """One masked observation, a scalar or one value per ensemble member `(N,)` (CLU's
    `Average.from_model_output` would sum over the member axis)."""
    return clu_metrics.Average(
        total=jnp.where(mask, value, 0.0).astype(jnp.float32), count=mask.astype(jnp.int32)
    )


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    """Per-window averages of the training loss, global gradient norm and global parameter norm, the
    learning rate of the window's last applied step, and the first non-finite step. (No `Std`: its
    `compute` fails with jax >= 0.10.)

    For an ensemble of N members, loss, gradient norm and parameter norm are averaged per member and
    compute to `(N,)`; the learning rate (shared by all members) stays a scalar."""

    loss: clu_metrics.Average
    grad_norm: clu_metrics.Average
    param_norm: clu_metrics.Average
    learning_rate: Latest
    first_nonfinite_step: FirstNonFinite

    @classmethod
    def empty(cls, num_members: int | None = None) -> "TrainMetrics":
        """Nothing accumulated yet; `num_members` gives the per-member metrics their `(N,)` shape."""
        per_member = () if num_members is None else (num_members,)
        return super().empty().replace(
            loss=_average(jnp.zeros(per_member), jnp.array(False)),
            grad_norm=_average(jnp.zeros(per_member), jnp.array(False)),
            param_norm=_average(jnp.zeros(per_member), jnp.array(False)),
        )

    @classmethod
    def from_step(
        cls,
        *,
        loss: jax.Array,
        grad_norm: jax.Array,
        param_norm: jax.Array,
        learning_rate: jax.Array,
        step: jax.Array,
        finite: jax.Array,
        applied: jax.Array,
    ) -> "TrainMetrics":
        """Metrics of one optimizer step; `applied` masks steps whose update was not applied. `loss`,
        `grad_norm` and `param_norm` are scalars, or `(N,)` for an ensemble."""
        return super().empty().replace(
            loss=_average(loss, applied),
            grad_norm=_average(grad_norm, applied),
            param_norm=_average(param_norm, applied),
            learning_rate=Latest.from_model_output(learning_rate, applied),
            first_nonfinite_step=FirstNonFinite.from_model_output(step, finite),
        )
