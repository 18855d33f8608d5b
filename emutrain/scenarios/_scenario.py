"""The :class:`Scenario` dataclass, ``make`` and ``names``."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
from typing import Any, ClassVar

import jax
import numpy as np
from tqdm.auto import tqdm

from emutrain import optimizers, physics
from emutrain.scenarios import custom
from emutrain.scenarios import ic as ic_lib
from emutrain.scenarios._physics import Unsupported
from emutrain.scenarios._registry import GRAY_SCOTT_PATTERNS, SPECS, UNSUPPORTED, VORTICITY_SCENARIOS, Spec
from emutrain.validation import check_int, check_kind, check_real

__all__ = ["Scenario", "make", "names", "unsupported", "parse_optim_config"]

_PAIR = tuple[float, float]

# Fields every APEBench 0.1.1 scenario has, with BaseScenario's defaults.
_COMMON: tuple[tuple[str, Any, Any], ...] = (
    ("num_spatial_dims", int, 1),
    ("num_points", int, 160),
    ("num_channels", int, 1),
    ("ic_config", str, "fourier;5;true;true"),
    ("num_warmup_steps", int, 0),
    ("num_train_samples", int, 50),
    ("train_temporal_horizon", int, 50),
    ("train_seed", int, 0),
    ("num_test_samples", int, 30),
    ("test_temporal_horizon", int, 200),
    ("test_seed", int, 773),
    ("optim_config", str, "adam;10_000;warmup_cosine;0.0;1e-3;2_000"),
    ("batch_size", int, 20),
    ("num_trjs_returned", int, 1),
    ("record_loss_every", int, 100),
    ("vlim", _PAIR, (-1.0, 1.0)),
    ("report_metrics", str, "mean_nRMSE"),
    ("callbacks", str, ""),
)
# Fields that change neither the trajectories nor the steppers (training and reporting settings).
TRAINING_FIELDS = (
    "optim_config",
    "batch_size",
    "num_trjs_returned",
    "record_loss_every",
    "vlim",
    "report_metrics",
    "callbacks",
)


def parse_optim_config(optim_config: str) -> dict[str, Any]:
    """APEBench's ``optimizer;num_training_steps;schedule;args...`` (e.g.
    ``adam;10_000;warmup_cosine;0.0;1e-3;2_000``: Adam, 10,000 steps, linear warm-up from 0 to 1e-3 over
    2,000 steps then cosine decay), read by :func:`emutrain.optimizers.parse_optimizer_string` (the
    optimizers and schedules it lists).

    Returns:
      ``{"optimizer", "num_training_steps", "schedule", "schedule_args"}`` (the schedule's name as written
      and its arguments in order).
    """
    parsed = optimizers.parse_optimizer_string(optim_config, label="optim_config")
    learning_rate = dict(parsed["learning_rate"])
    learning_rate.pop("schedule")
    learning_rate.pop("decay_steps", None)
    return {
        "optimizer": parsed["optimizer"],
        "num_training_steps": parsed["num_steps"],
        "schedule": optim_config.split(";")[2].strip().lower(),
        "schedule_args": tuple(learning_rate.values()),
    }


@dataclasses.dataclass(frozen=True)
class Scenario(custom.ScenarioBase):
    """A named PDE learning problem with APEBench 0.1.1's fields, defaults and meanings.

    Build one with :func:`make`. Common fields (every scenario): ``num_spatial_dims``, ``num_points`` (per
    axis), ``num_channels``, ``ic_config`` (see :mod:`emutrain.scenarios.ic`), ``num_warmup_steps``
    (reference steps applied to each initial condition before recording), ``num_train_samples``,
    ``train_temporal_horizon`` (steps per training trajectory), ``train_seed``, ``num_test_samples``,
    ``test_temporal_horizon``, ``test_seed``, ``optim_config``, ``batch_size``, ``num_trjs_returned``,
    ``record_loss_every``, ``vlim``, ``report_metrics``, ``callbacks``; each scenario adds its own (see
    ``Scenario.fields()``), e.g. difficulties ``advection_gamma``, ``coarse_proportion``, ``num_substeps``.

    Arrays are channels-last: trajectories ``(S, T+1, *spatial, C)`` float32 with index 0 the initial
    condition after warm-up. The vorticity scenarios store ``curl u``, the negative of APEBench's field.
    """

    name: str
    spec: ClassVar[Spec]

    # -- construction ---------------------------------------------------------------------------------
    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name != "name":
                value = check_kind(f.name, f.metadata["kind"], getattr(self, f.name))
                object.__setattr__(self, f.name, value)
        if self.name != self.spec.name:
            raise ValueError(f"name must be {self.spec.name!r} for this class, got {self.name!r}")
        self._check_common()
        self._check_numerics()
        self._check_shapes()
        # Fails early (NotImplementedError) where emutrain has no stepper for these coefficients.
        self._factory(1.0)
        if self.spec.has_coarse:
            self._factory(self.coarse_proportion)

    def _check_common(self) -> None:
        """The fields every scenario has."""
        spec = self.spec
        if self.num_spatial_dims not in spec.spatial_dims:
            raise ValueError(
                f"num_spatial_dims must be one of {spec.spatial_dims} for {spec.name!r}, got "
                f"{self.num_spatial_dims}"
            )
        check_int("num_points", self.num_points, minimum=4)
        check_int("num_channels", self.num_channels, minimum=1)
        if self.num_channels != spec.channels(self):
            raise ValueError(
                f"num_channels must be {spec.channels(self)} for {spec.name!r} with num_spatial_dims="
                f"{self.num_spatial_dims}, got {self.num_channels}"
            )
        ic_lib.parse_ic_config(self.ic_config, self.num_spatial_dims, self.num_channels)
        for name in ("num_warmup_steps", "train_seed", "test_seed"):
            check_int(name, getattr(self, name), minimum=0)
        for name in (
            "num_train_samples",
            "train_temporal_horizon",
            "num_test_samples",
            "test_temporal_horizon",
            "batch_size",
            "num_trjs_returned",
            "record_loss_every",
        ):
            check_int(name, getattr(self, name), minimum=1)
        parse_optim_config(self.optim_config)

    def _check_numerics(self) -> None:
        """Step sizes, substeps and the integrator settings of the scenarios that have them."""
        fields = self.field_names()
        for name in ("coarse_proportion", "domain_extent", "dt", "circle_radius"):
            if name in fields:
                check_real(name, getattr(self, name), positive=True)
        for name in ("num_substeps", "num_circle_points"):
            if name in fields:
                check_int(name, getattr(self, name), minimum=1)
        if self.name == "phy_poisson":
            check_int("order", self.order, minimum=2)
            if self.order % 2:
                raise ValueError(
                    f"order must be even for phy_poisson (the derivative order), got {self.order}"
                )
            for name in ("train_temporal_horizon", "test_temporal_horizon"):
                if getattr(self, name) != 1:
                    raise ValueError(
                        f"{name} must be 1 for phy_poisson (one solve per sample), got {getattr(self, name)}"
                    )
            if self.num_warmup_steps:
                raise ValueError(f"num_warmup_steps must be 0 for phy_poisson, got {self.num_warmup_steps}")
        elif "order" in fields:
            check_int("order", self.order, minimum=0, maximum=4)
        if "dealiasing_fraction" in fields and not 0.0 < self.dealiasing_fraction <= 1.0:
            raise ValueError(f"dealiasing_fraction must be in (0, 1], got {self.dealiasing_fraction}")

    def _check_shapes(self) -> None:
        """Choices and the lengths of the coefficient tuples, vectors and matrices."""
        fields = self.field_names()
        if "pattern_type" in fields and self.pattern_type not in GRAY_SCOTT_PATTERNS:
            raise ValueError(
                f"pattern_type must be one of {tuple(GRAY_SCOTT_PATTERNS)}, got {self.pattern_type!r}"
            )
        if "diffusion_coef_matrix" in fields:
            matrix = self.diffusion_coef_matrix
            if len(matrix) != self.num_spatial_dims or any(
                len(row) != self.num_spatial_dims for row in matrix
            ):
                raise ValueError(
                    f"diffusion_coef_matrix must be {self.num_spatial_dims} x {self.num_spatial_dims} "
                    f"(num_spatial_dims), got {matrix}"
                )
        if "linear_term_order" in fields:
            check_int("linear_term_order", self.linear_term_order, minimum=0)
        for name in ("deltas", "betas", "b_coefs"):
            if name in fields and len(getattr(self, name)) != 3:
                raise ValueError(
                    f"{name} must have 3 entries (quadratic, convection, gradient norm), got "
                    f"{getattr(self, name)}"
                )
        for name in ("gammas", "alphas", "a_coefs", "poly_coefs", "polynomial_coefficients"):
            if name in fields and not getattr(self, name):
                raise ValueError(f"{name} must have at least one entry")
        for name in ("advection_coef_vector", "diffusion_coef_vector"):
            if name in fields and len(getattr(self, name)) != self.num_spatial_dims:
                raise ValueError(
                    f"{name} must have num_spatial_dims={self.num_spatial_dims} entries, got "
                    f"{getattr(self, name)}"
                )
        if "injection_mode" in fields and not 1 <= self.injection_mode < self.num_points // 2:
            raise ValueError(f"injection_mode must be in [1, num_points // 2), got {self.injection_mode}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field but ``name``, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "name")

    @classmethod
    def fields(cls) -> dict[str, Any]:
        """Field name -> default."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.name != "name"}

    def replace(self, **overrides) -> Scenario:
        """A copy with ``overrides`` (validated as in :func:`make`)."""
        return make(self.name, **{**self.to_dict(), **overrides})

    # -- APEBench quantities --------------------------------------------------------------------------
    @property
    def num_training_steps(self) -> int:
        """Optimizer steps, the second entry of ``optim_config``."""
        return parse_optim_config(self.optim_config)["num_training_steps"]

    @property
    def description(self) -> str:
        return self.spec.description

    # -- steppers -------------------------------------------------------------------------------------
    def _factory(self, fraction: float):
        try:
            return self.spec.build(self, fraction)
        except Unsupported as error:
            raise Unsupported(f"scenario {self.name!r}: {error}") from None

    def reference_stepper(self):
        """The emutrain stepper of the scenario, ``(..., *spatial, C) -> (..., *spatial, C)``."""
        return _stepper(self, 1.0)

    def coarse_stepper(self):
        """The coarse stepper of correction tasks: the reference with its difficulties, normalized
        coefficients or time step (physical scenarios) scaled by ``coarse_proportion``.

        Raises:
          NotImplementedError: ``phy_poisson`` has none (as in APEBench).
        """
        if not self.spec.has_coarse:
            raise NotImplementedError(f"scenario {self.name!r} has no coarse stepper (as in APEBench 0.1.1)")
        return _stepper(self, self.coarse_proportion)

    # -- data -----------------------------------------------------------------------------------------
    def ic_distribution(self) -> ic_lib.MultiChannelIC:
        """The initial-condition distribution of ``ic_config`` with ``num_channels`` channels."""
        return ic_lib.parse_ic_config(self.ic_config, self.num_spatial_dims, self.num_channels)

    def initial_conditions(self, split: str = "train", *, warmup: bool = True) -> np.ndarray:
        """The initial conditions of ``split``, ``(S, *spatial, C)`` float32, after the warm-up steps."""
        return self.trajectories(split, num_steps=0, warmup=warmup)[:, 0]

    def trajectories(
        self,
        split: str,
        *,
        sample_range: tuple[int, int] | None = None,
        num_steps: int | None = None,
        warmup: bool = True,
        chunk_size: int = 64,
        progress: bool = False,
    ) -> np.ndarray:
        """Reference trajectories of ``split``: ``(S, T+1, *spatial, C)`` float32, index 0 the warmed-up
        initial condition.

        Args:
          split: ``"train"`` (``num_train_samples``, ``train_temporal_horizon``, ``train_seed``) or
            ``"test"``.
          sample_range: ``(start, stop)``: only these samples (the same arrays as the full set's rows).
          num_steps: ``T`` (default: the split's temporal horizon).
          warmup: apply ``num_warmup_steps`` reference steps to the initial conditions first.
          chunk_size: samples simulated per compiled call; the blocks are aligned to the sample index
            (``[k c, (k+1) c)`` with ``c = min(chunk_size, S)``), so a ``sample_range`` reproduces the full
            set's rows exactly (a range simulates the whole blocks it touches).
          progress: show a progress bar of the samples simulated (on a terminal only).
        """
        num_samples, horizon, seed = self.split_settings(split)
        num_steps = horizon if num_steps is None else check_int("num_steps", num_steps, minimum=0)
        start, stop = (0, num_samples) if sample_range is None else sample_range
        check_int("sample_range start", start, minimum=0)
        check_int("sample_range stop", stop, minimum=start + 1, maximum=num_samples)
        check_int("chunk_size", chunk_size, minimum=1)
        initial = ic_lib.build_ic_set(
            self.ic_distribution(),
            num_points=self.num_points,
            num_samples=num_samples,
            key=jax.random.PRNGKey(seed),
        )
        if self.name in VORTICITY_SCENARIOS:
            initial = -initial  # emutrain's curl u from APEBench's -curl u draws
        stepper = self.reference_stepper()
        warmup_steps = self.num_warmup_steps if warmup else 0
        # XLA's batched FFTs round differently for different batch sizes (1 ulp), so samples are always
        # simulated in the same blocks, aligned to the sample index: a shard equals the full set's rows.
        block = min(chunk_size, num_samples)
        parts = []
        # disable=None: a bar on a terminal, nothing in logs and captured output; redrawn after every block
        bar = tqdm(total=stop - start, unit="sample", desc=f"generating {self.name} {split}", miniters=1,
                   disable=None if progress else True, dynamic_ncols=True, leave=False, mininterval=0)
        with bar:
            for lo in range(start - start % block, stop, block):
                hi = min(lo + block, num_samples)
                chunk = np.asarray(_simulate(initial[lo:hi], stepper, warmup_steps, num_steps), np.float32)
                parts.append(chunk[max(start, lo) - lo : min(stop, hi) - lo])
                bar.update(len(parts[-1]))
        return np.concatenate(parts)


@functools.lru_cache(maxsize=64)
def _stepper(scenario: Scenario, fraction: float):
    factory, num_substeps = scenario._factory(fraction)
    stepper = factory()
    return stepper if num_substeps == 1 else physics.repeat(stepper, num_substeps)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _simulate(initial, stepper, num_warmup_steps: int, num_steps: int):
    if num_warmup_steps:
        initial = physics.repeat(stepper, num_warmup_steps)(initial)
    if num_steps == 0:
        return initial[:, None]
    return physics.rollout(stepper, num_steps, include_init=True)(initial)


def _make_class(spec: Spec) -> type[Scenario]:
    defaults = {**{n: d for n, _, d in _COMMON}, **spec.defaults}
    fields = [(n, k, dataclasses.field(default=defaults[n], metadata={"kind": k})) for n, k, _ in _COMMON]
    fields += [(n, k, dataclasses.field(default=d, metadata={"kind": k})) for n, k, d in spec.fields]
    namespace = {"spec": spec}
    declared = {n for n, _, _ in spec.fields}
    if spec.coefficients is not None:
        derived = spec.coefficient_names
        for index, attribute in enumerate(derived):
            if attribute not in declared:
                namespace[attribute] = property(_coefficient_getter(spec, index, len(derived)))
    class_name = "Scenario_" + spec.name
    cls = dataclasses.make_dataclass(class_name, fields, bases=(Scenario,), frozen=True, namespace=namespace)
    cls.__doc__ = f"APEBench scenario {spec.name!r}: {spec.description}."
    cls.__module__ = __name__
    return cls


def _coefficient_getter(spec: Spec, index: int, count: int):
    def getter(self) -> tuple[float, ...]:
        values = spec.coefficients(self)
        return tuple(values[index]) if count > 1 else tuple(values)

    getter.__doc__ = "Derived from the scenario's named coefficients, as APEBench's __post_init__ sets it."
    return getter


_CLASSES: dict[str, type[Scenario]] = {name: _make_class(spec) for name, spec in SPECS.items()}


def names() -> tuple[str, ...]:
    """The APEBench scenario names emutrain supports (sorted; custom problems: ``registered()``)."""
    return tuple(sorted(n for n in _CLASSES if n not in UNSUPPORTED))


def unsupported() -> dict[str, str]:
    """APEBench 0.1.1 scenario names emutrain cannot step yet -> the reason."""
    return dict(UNSUPPORTED)


def make(name: str, **overrides: Any) -> Scenario:
    """The scenario ``name`` with APEBench 0.1.1's defaults, changed by ``overrides``.

    ``num_channels`` follows the physics where it is fixed (``num_spatial_dims`` for the multi-channel
    convection scenarios). Raises ValueError for an unknown or unsupported name (listing the valid ones,
    closest first) or an unknown field (listing the valid fields); TypeError / ValueError naming the field
    for a wrong type or value; NotImplementedError when emutrain has no stepper for the requested
    coefficients.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r} of type {type(name).__name__}")
    if name in custom.registered():  # emutrain.scenarios.register
        return custom.make(name, **overrides)
    valid = names()
    if name in UNSUPPORTED:
        raise ValueError(f"scenario {name!r} is not supported: {UNSUPPORTED[name]}; supported names: {valid}")
    if name not in _CLASSES:
        close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
        ordered = tuple(close) + tuple(n for n in valid if n not in close)
        raise ValueError(f"unknown scenario {name!r}; valid names (closest first): {ordered}")
    cls = _CLASSES[name]
    field_names = cls.field_names()
    unknown = sorted(set(overrides) - set(field_names))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} for scenario {name!r}; valid fields: {field_names}")
    values = dict(overrides)
    if "num_channels" not in values:
        probe = types.SimpleNamespace(**{**cls.fields(), **values})
        values["num_channels"] = cls.spec.channels(probe)
    return cls(name=name, **values)
