"""APEBench 0.1.1's scenario names, their own fields and defaults, and how each builds its steppers.

Every :class:`Spec` lists the fields that APEBench's scenario class declares beyond the common ones (with
its defaults), the common defaults it overrides, the spatial dimensions it accepts, and functions of the
scenario: ``build(scenario, fraction)`` gives ``(factory, num_substeps)`` for a time step scaled by
``fraction`` (1 for the reference, ``coarse_proportion`` for the coarse stepper; the stepper is
``factory()`` applied ``num_substeps`` times), ``channels`` the number of channels and ``coefficients``
the derived coefficient tuples (named ``coefficient_names``) of scenarios that set them from named fields.

The scenarios of Exponax's generic steppers come from :data:`FAMILIES`, one row per PDE family that
generates its ``diff_`` (difficulties), ``norm_`` (normalized coefficients) and ``phy_`` (physical
coefficients) entries; the other physical scenarios are listed one by one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

from emutrain import physics
from emutrain.physics import coefficients as conversions
from emutrain.scenarios import _physics as P

__all__ = ["Family", "FAMILIES", "Spec", "SPECS", "UNSUPPORTED"]


@dataclasses.dataclass(frozen=True)
class Spec:
    """One scenario: ``fields`` are ``(name, type, default)``; ``defaults`` override common defaults."""

    name: str
    description: str
    fields: tuple[tuple[str, Any, Any], ...]
    build: Callable[[Any, float], Any]
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    spatial_dims: tuple[int, ...] = (1, 2, 3)
    channels: Callable[[Any], int] = lambda s: 1
    coefficients: Callable[[Any], Any] | None = None
    coefficient_names: tuple[str, ...] = ()
    has_coarse: bool = True


_ODE_FIELDS = (
    ("num_substeps", int, 1),
    ("coarse_proportion", float, 0.5),
    ("order", int, 2),
    ("dealiasing_fraction", float, 2 / 3),
    ("num_circle_points", int, 16),
    ("circle_radius", float, 1.0),
)
_COARSE = (("coarse_proportion", float, 0.5),)
_PHY = (("domain_extent", float, 1.0), ("dt", float, 0.1))
_KS_DEFAULTS = dict(num_warmup_steps=500, report_metrics="mean_nRMSE,mean_correlation")
_FISHER_DEFAULTS = dict(ic_config="clamp;0.0;1.0;fourier;5;false;false")
_FLOATS = tuple[float, ...]
_MATRIX = tuple[tuple[float, ...], ...]
_PREFIXES = ("diff", "norm", "phy")
# The linear and nonlinear coefficient tuples of each interface, and the suffixes of their named fields.
LINEAR = {"diff": "gammas", "norm": "alphas", "phy": "a_coefs"}
NONLINEAR = {"diff": "deltas", "norm": "betas", "phy": "b_coefs"}
_LINEAR_SUFFIX = {"diff": "gamma", "norm": "alpha", "phy": "coef"}
_NONLINEAR_SUFFIX = {"diff": "delta", "norm": "beta", "phy": "coef"}
_BY = {"diff": "difficulties", "norm": "normalized coefficients", "phy": "coefficients"}
_ONE = {"diff": "difficulty", "norm": "coefficient", "phy": "coefficient"}
_NONLINEAR_SLOTS = {"quadratic": 0, "convection_sc": 1, "gradient_norm": 2}


def _etdrk(s) -> physics.ETDRKOptions:
    return P.etdrk_options(s.num_points, s.order, s.dealiasing_fraction, s.num_circle_points, s.circle_radius)


# -- the generic families -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Family:
    """A PDE family of Exponax's generic steppers, listed once for its ``diff_``, ``norm_``, ``phy_`` entries.

    ``kind``: ``"linear"``, ``"convection"`` (D channels, ``conservative`` field) or ``"nonlinear"``.
    ``terms``: ``(name, slot, (diff, norm, phy) defaults)`` in field order. A slot is the derivative order of
    a linear term (field ``NAME_gamma`` / ``NAME_alpha`` / ``NAME_coef``), ``"convection"`` (the convection
    scale, ``NAME_delta`` / ``NAME_beta`` / ``NAME_coef``), a key of the nonlinear slots (same suffixes),
    ``"linear"`` / ``"nonlinear"`` (the whole tuple, e.g. ``gammas``), ``"simple"`` (one linear term of
    order ``linear_term_order``) or None (declared, unused; the field is ``NAME``). A default of None
    leaves the term out of that interface. ``sizes``: the length of the derived linear tuple per interface
    (5 unless given); ``phy``: the default ``(domain_extent, dt)``; ``renames``: ``{prefix: {term: field}}``;
    ``notes``: ``{prefix: text}`` appended to the description, which may name ``{lin}``, ``{nl}``, ``{by}``,
    ``{one}`` (the interface's words) and ``{suffix}``.
    """

    key: str
    kind: str
    description: str
    terms: tuple[tuple[str, Any, tuple[Any, Any, Any]], ...]
    phy: tuple[float, float] = (1.0, 0.1)
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    spatial_dims: tuple[int, ...] = (1, 2, 3)
    prefixes: tuple[str, ...] = _PREFIXES
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    renames: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)


FAMILIES = (
    Family("lin", "linear", "linear PDE by {by} {lin} (default advection)", (
        ("", "linear", ((0.0, -4.0, 0.0, 0.0, 0.0), (0.0, -0.025, 0.0, 0.0, 0.0),
                        (0.0, -0.25, 0.0, 0.0, 0.0))),
    )),
    Family("lin_simple", "linear", "one linear term of order linear_term_order with {one} linear_{suffix}", (
        ("linear", "simple", (-4.0, -0.025, -0.25)),
    )),
    Family("adv", "linear", "advection", (("advection", 1, (-4.0, -0.025, -0.25)),)),
    Family("diff", "linear", "diffusion", (("diffusion", 2, (4.0, 8e-4, 0.008)),)),
    Family("adv_diff", "linear", "advection-diffusion", (
        ("advection", 1, (-4.0, -0.025, -0.25)), ("diffusion", 2, (4.0, 8e-4, 0.008)),
    ), sizes={"norm": 3}),
    # "dipersion_coef" is APEBench 0.1.1's spelling.
    Family("disp", "linear", "dispersion", (("dispersion", 3, (4.0, 2.5e-7, 0.00025)),), phy=(1.0, 0.001),
           renames={"phy": {"dispersion": "dipersion_coef"}}),
    Family("hyp_diff", "linear", "hyper-diffusion", (("hyp_diffusion", 4, (-4.0, -7.5e-10, -0.000075)),),
           phy=(1.0, 0.00001), sizes={"diff": 6}, names={"norm": "hypdiff"},
           renames={"phy": {"hyp_diffusion": "hyper_diffusion_coef"}}),
    Family("four", "linear", "advection, diffusion, dispersion and hyper-diffusion", (
        ("advection", 1, (-4.0, -0.025, -2500.0)), ("diffusion", 2, (4.0, 8e-4, 80.0)),
        ("dispersion", 3, (4.0, 2.5e-7, 0.025)), ("hyp_diffusion", 4, (-4.0, -7.5e-10, -0.000075)),
    ), phy=(1.0, 0.00001)),
    Family("conv", "convection", "convection (D channels) with linear terms {lin}", (
        ("", "linear", ((0.0, 0.0, 1.5, 0.0, 0.0), (0.0, 0.0, 3e-5, 0.0, 0.0), (0.0, 0.0, 0.0003, 0.0, 0.0))),
        ("convection", "convection", (-1.5, -1.25e-2, -0.125)),
    )),
    Family("burgers", "convection", "Burgers (D channels)", (
        ("convection", "convection", (-1.5, -1.25e-2, -0.125)), ("diffusion", 2, (1.5, 3e-5, 0.0003)),
    )),
    # APEBench 0.1.1 declares convection_delta in norm_ks_cons but steps with convection_beta.
    Family("ks_cons", "convection", "Kuramoto-Sivashinsky, conservative form (1D)", (
        ("convection", "convection", (-1.0, -1.25e-2, -3.6)), ("convection_delta", None, (None, -6e-3, None)),
        ("diffusion", 2, (-2.0, -4e-5, -1.44)), ("hyp_diffusion", 4, (-18.0, -3e-8, -0.4)),
    ), phy=(60.0, 0.1), defaults=dict(_KS_DEFAULTS, vlim=(-2.5, 2.5)), spatial_dims=(1,),
       notes={"norm": "; steps with convection_beta, convection_delta is unused as in APEBench 0.1.1"}),
    Family("nonlin", "nonlinear",
           "general nonlinear PDE by {by} {lin} and {nl} (default single-channel Burgers)", (
        ("", "linear", ((0.0, 0.0, 1.5, 0.0, 0.0), (0.0, 0.0, 3e-5, 0.0, 0.0), (0.0, 0.0, 0.0003, 0.0, 0.0))),
        ("", "nonlinear", ((0.0, -1.5, 0.0), (0.0, -0.0125, 0.0), (0.0, -0.125, 0.0))),
    )),
    Family("burgers_sc", "nonlinear", "Burgers, single channel", (
        ("convection_sc", "convection_sc", (-1.5, -0.0125, -0.125)), ("diffusion", 2, (1.5, 3e-5, 0.0003)),
    )),
    Family("kdv", "nonlinear", "Korteweg-de Vries", (
        ("convection_sc", "convection_sc", (-2.0, -0.0125, -6.0)), ("dispersion", 3, (-14.0, -8.5e-7, -1.0)),
        ("hyp_diffusion", 4, (-9.0, -2e-9, -0.125)),
    ), phy=(50.0, 0.1)),
    Family("ks", "nonlinear", "Kuramoto-Sivashinsky, gradient-norm form", (
        ("gradient_norm", "gradient_norm", (-6.0, -0.00025, -1.0)), ("diffusion", 2, (-1.2, -0.000025, -1.0)),
        ("hyp_diffusion", 4, (-15.0, -3e-9, -1.0)),
    ), phy=(60.0, 0.1), defaults=dict(_KS_DEFAULTS, vlim=(-6.5, 6.5))),
    # phy_fisher steps with the polynomial stepper (listed with the physical scenarios).
    Family("fisher", "nonlinear", "Fisher-KPP", (
        ("quadratic", "quadratic", (-0.02, -0.02, None)), ("drag", 0, (0.02, 0.02, None)),
        ("diffusion", 2, (0.2, 4e-6, None)),
    ), sizes={"diff": 3}, defaults=_FISHER_DEFAULTS, prefixes=("diff", "norm")),
)  # fmt: skip
"""The PDE families of Exponax's generic steppers (16 x diff_/norm_/phy_, fisher without phy_)."""


def _field_name(family: Family, prefix: str, term: str, slot: Any) -> str:
    if slot is None:
        return term
    if slot in ("linear", "nonlinear"):
        return (LINEAR if slot == "linear" else NONLINEAR)[prefix]
    if term in family.renames.get(prefix, {}):
        return family.renames[prefix][term]
    linear = isinstance(slot, int) or slot == "simple"
    return f"{term}_{(_LINEAR_SUFFIX if linear else _NONLINEAR_SUFFIX)[prefix]}"


def _family_fields(family: Family, prefix: str) -> list[tuple[str, Any, Any]]:
    index = _PREFIXES.index(prefix)
    fields = list(zip(("domain_extent", "dt"), (float, float), family.phy)) if prefix == "phy" else []
    for term, slot, defaults in family.terms:
        if defaults[index] is None:
            continue
        kind = _FLOATS if slot in ("linear", "nonlinear") else float
        fields.append((_field_name(family, prefix, term, slot), kind, defaults[index]))
        if slot == "simple":
            fields.append(("linear_term_order", int, 1))
    if family.kind == "convection":
        fields.append(("conservative", bool, True))
    return fields + list(_COARSE if family.kind == "linear" else _ODE_FIELDS)


def _family_coefficients(family: Family, prefix: str) -> tuple[Callable[[Any], Any] | None, tuple[str, ...]]:
    """The derived coefficient tuples of a family with named terms (None where the tuples are fields)."""
    index = _PREFIXES.index(prefix)
    terms = [
        (_field_name(family, prefix, t, slot), slot) for t, slot, d in family.terms if d[index] is not None
    ]
    if any(slot in ("linear", "nonlinear") for _, slot in terms):
        return None, ()
    size = family.sizes.get(prefix, 5)

    def coefficients(s):
        linear, nonlinear = [0.0] * size, [0.0] * 3
        for name, slot in terms:
            if slot == "simple":
                return (0.0,) * s.linear_term_order + (getattr(s, name),)
            if isinstance(slot, int):
                linear[slot] = getattr(s, name)
            elif slot in _NONLINEAR_SLOTS:
                nonlinear[_NONLINEAR_SLOTS[slot]] = getattr(s, name)
        return (tuple(linear), tuple(nonlinear)) if family.kind == "nonlinear" else tuple(linear)

    names = (LINEAR[prefix], NONLINEAR[prefix]) if family.kind == "nonlinear" else (LINEAR[prefix],)
    return coefficients, names


def _scaled(values, fraction: float, num_substeps: int):
    """Unit-step coefficients (a tuple, a scalar or None) for a step ``fraction / num_substeps``."""
    if values is None:
        return None
    if isinstance(values, tuple):
        return tuple(v * fraction / num_substeps for v in values)
    return values * fraction / num_substeps


def _normalized(s, linear, nonlinear, convection):
    """Difficulties (linear, nonlinear tuple or None, convection scale or None) -> normalized coefficients."""
    grid = dict(num_spatial_dims=s.num_spatial_dims, num_points=s.num_points)
    linear = conversions.difficulties_to_normalized(linear, **grid)
    if nonlinear is not None:
        nonlinear = conversions.nonlinear_difficulties_to_normalized(nonlinear, **grid)
    if convection is not None:
        convection = conversions.convection_difficulty_to_normalized(convection, **grid)
    return linear, nonlinear, convection


def _stepper_keywords(kind: str, s, nonlinear, convection) -> dict[str, Any]:
    if kind == "linear":
        return {}
    if kind == "convection":
        return dict(convection_scale=convection, conservative=s.conservative, etdrk=_etdrk(s))
    return {f"{kind}_coefficients": nonlinear, "etdrk": _etdrk(s)}


def _family_build(kind: str, prefix: str, nonlinear_name: str | None = None):
    """``build(s, fraction)`` of Exponax's generic stepper of ``kind`` for the interface ``prefix``:
    difficulties and normalized coefficients scale with ``fraction / num_substeps`` on the unit domain with
    unit time step (difficulties then convert to normalized coefficients), physical scenarios scale
    ``dt``."""
    nonlinear_name = nonlinear_name or NONLINEAR[prefix]

    def build(s, fraction: float):
        n = 1 if kind == "linear" else s.num_substeps
        linear = getattr(s, LINEAR[prefix])
        nonlinear = getattr(s, nonlinear_name) if kind in ("nonlinear", "polynomial") else None
        # Exponax passes the negated coefficient as its convection scale (the term is on the left).
        convection = -getattr(s, f"convection_{_NONLINEAR_SUFFIX[prefix]}") if kind == "convection" else None
        if prefix == "phy":
            extent, dt = s.domain_extent, s.dt * fraction / n
        else:
            extent, dt = 1.0, 1.0
            linear, nonlinear, convection = (_scaled(v, fraction, n) for v in (linear, nonlinear, convection))
        if prefix == "diff":
            linear, nonlinear, convection = _normalized(s, linear, nonlinear, convection)
        keywords = _stepper_keywords(kind, s, nonlinear, convection)
        return P.generic_stepper(kind, s.num_spatial_dims, extent, s.num_points, dt, linear, **keywords), n

    return build


def _family_specs(family: Family) -> list[Spec]:
    specs = []
    for prefix in family.prefixes:
        coefficients, names = _family_coefficients(family, prefix)
        description = family.description.format(
            lin=LINEAR[prefix],
            nl=NONLINEAR[prefix],
            suffix=_LINEAR_SUFFIX[prefix],
            by=_BY[prefix],
            one=_ONE[prefix],
        ) + family.notes.get(prefix, "")
        specs.append(
            Spec(
                f"{prefix}_{family.names.get(prefix, family.key)}",
                description,
                tuple(_family_fields(family, prefix)),
                _family_build(family.kind, prefix),
                defaults=family.defaults,
                spatial_dims=family.spatial_dims,
                channels=(lambda s: s.num_spatial_dims) if family.kind == "convection" else (lambda s: 1),
                coefficients=coefficients,
                coefficient_names=names,
            )
        )
    return specs


# -- special physical scenarios -------------------------------------------------------------------------


def _physical(stepper_class, substeps: bool = False, **keywords):
    """``build(s, fraction)``: ``stepper_class`` on the scenario's grid with the time step ``dt * fraction``
    (split into ``num_substeps`` steps where ``substeps``), each keyword read from the scenario: a field
    name, or a function of the scenario."""

    def build(s, fraction: float):
        num_substeps = s.num_substeps if substeps else 1
        grid = (s.num_spatial_dims, s.domain_extent, s.num_points, s.dt * fraction / num_substeps)
        values = {k: getattr(s, v) if isinstance(v, str) else v(s) for k, v in keywords.items()}
        return functools.partial(stepper_class, *grid, **values), num_substeps

    return build


# APEBench leaves Exponax's integrator defaults for its reaction-diffusion scenarios: ETDRK2, dealiasing
# fraction 1/2 (cubic terms).
def _reaction_etdrk(s) -> physics.ETDRKOptions:
    return P.etdrk_options(s.num_points, 2, 0.5, 16, 1.0)


GRAY_SCOTT_PATTERNS = {
    "alpha": (0.008, 0.046), "beta": (0.020, 0.046), "gamma": (0.024, 0.056), "delta": (0.028, 0.056),
    "epsilon": (0.02, 0.056), "zeta": (0.024, 0.06), "eta": (0.036, 0.063), "theta": (0.04, 0.06),
    "iota": (0.05, 0.0605), "kappa": (0.052, 0.063), "lambda": (0.036, 0.0655), "mu": (0.044, 0.066),
}  # fmt: skip
"""Pearson's pattern types -> (feed rate, kill rate), as APEBench's ``phy_gs_type``."""


def _gray_scott_rates(s) -> tuple[float, float]:
    """``(feed rate, kill rate)``, of ``pattern_type`` where the scenario has one."""
    if "pattern_type" in s.field_names():
        return GRAY_SCOTT_PATTERNS[s.pattern_type]
    return s.feed_rate, s.kill_rate


_GRAY_SCOTT = _physical(
    physics.GrayScott,
    True,
    diffusivity_1="diffusivity_1",
    diffusivity_2="diffusivity_2",
    feed_rate=lambda s: _gray_scott_rates(s)[0],
    kill_rate=lambda s: _gray_scott_rates(s)[1],
    etdrk=_reaction_etdrk,
)


def _poisson(s, fraction: float):
    return functools.partial(
        physics.Poisson, s.num_spatial_dims, s.domain_extent, s.num_points, order=s.order
    ), 1


# -- the table ------------------------------------------------------------------------------------------

_SPECS: list[Spec] = [spec for family in FAMILIES for spec in _family_specs(family)]


def _add(name, description, fields, build, **kwargs):
    _SPECS.append(Spec(name, description, tuple(fields), build, **kwargs))


_POLY_FIELDS = (("domain_extent", float, 1.0), ("dt", float, 0.001))
_add(
    "phy_poly",
    "linear terms a_coefs plus a polynomial reaction sum_p poly_coefs[p] u^p",
    [
        *_POLY_FIELDS,
        ("a_coefs", _FLOATS, (0.02, 0.0, 4e-6, 0.0, 0.0)),
        ("poly_coefs", _FLOATS, (0.0, 0.0, -0.02)),
        *_ODE_FIELDS,
    ],
    _family_build("polynomial", "phy", "poly_coefs"),
)
_add(
    "phy_fisher",
    "Fisher-KPP",
    [
        *_POLY_FIELDS,
        ("drag_coef", float, 20.0),
        ("diffusion_coef", float, 0.004),
        ("quadratic_coef", float, -20.0),
        *_ODE_FIELDS,
    ],
    _family_build("polynomial", "phy", "poly_coefs"),
    coefficients=lambda s: ((s.drag_coef, 0.0, s.diffusion_coef, 0.0, 0.0), (0.0, 0.0, s.quadratic_coef)),
    coefficient_names=("a_coefs", "poly_coefs"),
    defaults=_FISHER_DEFAULTS,
)
_add(
    "phy_sh",
    "Swift-Hohenberg (2D/3D)",
    [
        ("domain_extent", float, 10.0 * math.pi),
        ("dt", float, 0.1),
        ("num_substeps", int, 5),
        ("reactivity", float, 0.7),
        ("critical_number", float, 1.0),
        ("polynomial_coefficients", _FLOATS, (0.0, 0.0, 1.0, -1.0)),
        *_COARSE,
    ],
    _physical(
        physics.SwiftHohenberg,
        True,
        reactivity="reactivity",
        critical_number="critical_number",
        polynomial_coefficients="polynomial_coefficients",
        etdrk=_reaction_etdrk,
    ),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)
_GS_COMMON = (("diffusivity_1", float, 2e-5), ("diffusivity_2", float, 1e-5), *_COARSE)
_add(
    "phy_gs",
    "Gray-Scott reaction-diffusion, two species (2D/3D)",
    [
        ("domain_extent", float, 1.0),
        ("dt", float, 10.0),
        ("num_substeps", int, 10),
        ("feed_rate", float, 0.04),
        ("kill_rate", float, 0.06),
        *_GS_COMMON,
    ],
    _GRAY_SCOTT,
    defaults=dict(num_spatial_dims=2, ic_config="gray_scott_blobs"),
    spatial_dims=(2, 3),
    channels=lambda s: 2,
)
_add(
    "phy_gs_type",
    "Gray-Scott reaction-diffusion with Pearson's pattern_type (alpha..mu) (2D/3D)",
    [
        ("domain_extent", float, 2.5),
        ("dt", float, 20.0),
        ("num_substeps", int, 20),
        ("pattern_type", str, "theta"),
        *_GS_COMMON,
    ],
    _GRAY_SCOTT,
    defaults=dict(num_spatial_dims=2, ic_config="gray_scott_blobs"),
    spatial_dims=(2, 3),
    channels=lambda s: 2,
)
_add(
    "phy_aniso_diff",
    "anisotropic diffusion div(A grad u) with a symmetric matrix A (2D/3D)",
    [*_PHY, ("diffusion_coef_matrix", _MATRIX, ((0.001, 0.0005), (0.0005, 0.002))), *_COARSE],
    _physical(physics.Diffusion, diffusivity="diffusion_coef_matrix"),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)
_add(
    "phy_mix_disp",
    "dispersion xi (1 . grad) laplace u with mixed derivatives (2D/3D)",
    [("domain_extent", float, 1.0), ("dt", float, 0.001), ("dispersion_coef", float, 0.00025), *_COARSE],
    # Exponax's advect_on_diffusion=True: xi (1 . grad) laplace u, mixed third derivatives included.
    _physical(physics.Dispersion, dispersivity="dispersion_coef", advect_on_diffusion=lambda s: True),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)
_add(
    "phy_poisson",
    "Poisson solve -laplace u = f (order 2) of each initial condition; temporal horizon 1, no coarse stepper",
    [("domain_extent", float, 10.0), ("order", int, 2)],
    _poisson,
    defaults=dict(train_temporal_horizon=1, test_temporal_horizon=1),
    has_coarse=False,
)
_add(
    "phy_unbal_adv",
    "advection with a different velocity per axis (2D/3D; default velocity has 3 entries)",
    [*_PHY, ("advection_coef_vector", _FLOATS, (0.01, -0.04, 0.005)), *_COARSE],
    _physical(physics.Advection, velocity="advection_coef_vector"),
    defaults=dict(num_spatial_dims=3),
    spatial_dims=(2, 3),
)
_add(
    "phy_diag_diff",
    "diffusion with a different diffusivity per axis (2D/3D; default has 2 entries)",
    [*_PHY, ("diffusion_coef_vector", _FLOATS, (0.001, 0.002)), *_COARSE],
    _physical(physics.Diffusion, diffusivity="diffusion_coef_vector"),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)
_add(
    "phy_mix_hyp",
    "hyper-diffusion -mu laplace^2 with mixed derivatives (2D/3D)",
    [
        ("domain_extent", float, 1.0),
        ("dt", float, 0.00001),
        ("hyp_diffusion_coef", float, -0.000075),
        *_COARSE,
    ],
    # Exponax's diffuse_on_diffuse=True is -mu laplace^2, emutrain's HyperDiffusion; mu = -coefficient.
    _physical(physics.HyperDiffusion, hyper_diffusivity=lambda s: -s.hyp_diffusion_coef),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)

_add(
    "phy_decay_turb",
    "decaying 2D turbulence (vorticity; emutrain stores curl u = -APEBench's field)",
    [*_PHY, ("diffusivity", float, 1e-4), *_ODE_FIELDS],
    _physical(physics.NavierStokesVorticity, True, diffusivity="diffusivity", etdrk=_etdrk),
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2,),
)
_add(
    "phy_kolm_flow",
    "2D Kolmogorov flow (vorticity; emutrain stores curl u = -APEBench's field)",
    [
        ("domain_extent", float, 2 * math.pi),
        ("dt", float, 0.1),
        ("diffusivity", float, 1e-2),
        ("injection_mode", int, 4),
        ("injection_scale", float, 1.0),
        ("drag", float, -0.1),
        ("num_substeps", int, 20),
        *(f for f in _ODE_FIELDS if f[0] != "num_substeps"),
    ],
    # APEBench stores -curl u and forces its vorticity with -s k cos(k y): the force F_x = -s sin(k y).
    # emutrain stores curl u; the same flow needs injection_scale = -s. Exponax builds the drag term as
    # drag * sum_d (i k_d)^0, i.e. D * drag = 2 * drag (the zeroth-order convention of its linear parts).
    _physical(
        physics.KolmogorovFlowVorticity,
        True,
        diffusivity="diffusivity",
        drag=lambda s: 2 * s.drag,
        injection_mode="injection_mode",
        injection_scale=lambda s: -s.injection_scale,
        etdrk=_etdrk,
    ),
    defaults=dict(num_spatial_dims=2, num_warmup_steps=500, vlim=(-10.0, 10.0)),
    spatial_dims=(2,),
)

SPECS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}

VORTICITY_SCENARIOS = ("phy_decay_turb", "phy_kolm_flow")

UNSUPPORTED: dict[str, str] = {}
"""APEBench 0.1.1 names emutrain cannot step, with the reason (none since the generic steppers landed)."""
