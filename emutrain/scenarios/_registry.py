"""APEBench 0.1.1's scenario names, their own fields and defaults, and how each builds its steppers.

Every entry lists the fields that APEBench's scenario class declares beyond the common ones (with its
defaults), the common defaults it overrides, the spatial dimensions it accepts, and functions of the
scenario: ``build(scenario, fraction)`` gives ``(factory, num_substeps)`` for a time step scaled by
``fraction`` (1 for the reference, ``coarse_proportion`` for the coarse stepper; the stepper is
``factory()`` applied ``num_substeps`` times), ``channels`` the number of channels and ``coefficients``
the derived coefficient tuples of scenarios that set them from named fields.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

from emutrain import physics
from emutrain.scenarios import _physics as P

__all__ = ["Spec", "SPECS", "UNSUPPORTED"]


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
    coefficients: Callable[[Any], tuple[float, ...]] | None = None
    has_coarse: bool = True


_ODE_FIELDS = (
    ("num_substeps", int, 1),
    ("coarse_proportion", float, 0.5),
    ("order", int, 2),
    ("dealiasing_fraction", float, 2 / 3),
    ("num_circle_points", int, 16),
    ("circle_radius", float, 1.0),
)
_KS_DEFAULTS = dict(num_warmup_steps=500, report_metrics="mean_nRMSE,mean_correlation")
_FLOATS = tuple[float, ...]
_MATRIX = tuple[tuple[float, ...], ...]


def _ode(s) -> dict:
    return dict(
        order=s.order,
        dealiasing_fraction=s.dealiasing_fraction,
        num_circle_points=s.num_circle_points,
        circle_radius=s.circle_radius,
    )


def _repeat(factory, num_substeps: int):
    return factory, num_substeps


# -- linear ---------------------------------------------------------------------------------------------


def _linear_difficulty(s, fraction: float):
    gammas = tuple(g * fraction for g in s.gammas)
    alphas = P.difficulty_to_normalized(gammas, num_spatial_dims=s.num_spatial_dims, num_points=s.num_points)
    return P.linear_stepper(s.num_spatial_dims, 1.0, s.num_points, 1.0, alphas), 1


def _linear_normalized(s, fraction: float):
    return P.linear_stepper(
        s.num_spatial_dims, 1.0, s.num_points, 1.0, tuple(a * fraction for a in s.alphas)
    ), 1


def _linear_physical(s, fraction: float):
    return P.linear_stepper(s.num_spatial_dims, s.domain_extent, s.num_points, s.dt * fraction, s.a_coefs), 1


# -- convection (D channels) ----------------------------------------------------------------------------


def _convection_difficulty(s, fraction: float):
    n = s.num_substeps
    gammas = tuple(g * fraction / n for g in s.gammas)
    delta = s.convection_delta * fraction / n
    alphas = P.difficulty_to_normalized(gammas, num_spatial_dims=s.num_spatial_dims, num_points=s.num_points)
    # APEBench passes -delta as the convection difficulty; beta = difficulty / (N D).
    scale = -delta / (s.num_points * s.num_spatial_dims)
    stepper = P.convection_stepper(
        s.num_spatial_dims,
        1.0,
        s.num_points,
        1.0,
        coefficients=alphas,
        convection_scale=scale,
        conservative=s.conservative,
        **_ode(s),
    )
    return _repeat(stepper, n)


def _convection_normalized(s, fraction: float):
    n = s.num_substeps
    alphas = tuple(a * fraction / n for a in s.alphas)
    stepper = P.convection_stepper(
        s.num_spatial_dims,
        1.0,
        s.num_points,
        1.0,
        coefficients=alphas,
        convection_scale=-s.convection_beta * fraction / n,
        conservative=s.conservative,
        **_ode(s),
    )
    return _repeat(stepper, n)


def _convection_physical(s, fraction: float):
    stepper = P.convection_stepper(
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        coefficients=s.a_coefs,
        convection_scale=-s.convection_coef,
        conservative=s.conservative,
        **_ode(s),
    )
    return _repeat(stepper, s.num_substeps)


# -- general nonlinear (one channel) --------------------------------------------------------------------


def _nonlinear_difficulty(s, fraction: float):
    n = s.num_substeps
    gammas = tuple(g * fraction / n for g in s.gammas)
    deltas = tuple(d * fraction / n for d in s.deltas)
    d, N = s.num_spatial_dims, s.num_points
    stepper = P.nonlinear_stepper(
        d,
        1.0,
        N,
        1.0,
        coefficients=P.difficulty_to_normalized(gammas, num_spatial_dims=d, num_points=N),
        nonlinear_coefficients=P.difficulty_to_normalized_nonlinear(deltas, num_spatial_dims=d, num_points=N),
        **_ode(s),
    )
    return _repeat(stepper, n)


def _nonlinear_normalized(s, fraction: float):
    n = s.num_substeps
    stepper = P.nonlinear_stepper(
        s.num_spatial_dims,
        1.0,
        s.num_points,
        1.0,
        coefficients=tuple(a * fraction / n for a in s.alphas),
        nonlinear_coefficients=tuple(b * fraction / n for b in s.betas),
        **_ode(s),
    )
    return _repeat(stepper, n)


def _nonlinear_physical(s, fraction: float):
    stepper = P.nonlinear_stepper(
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        coefficients=s.a_coefs,
        nonlinear_coefficients=s.b_coefs,
        **_ode(s),
    )
    return _repeat(stepper, s.num_substeps)


def _polynomial_physical(s, fraction: float):
    stepper = P.polynomial_stepper(
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        coefficients=s.a_coefs,
        polynomial_coefficients=s.poly_coefs,
        **_ode(s),
    )
    return _repeat(stepper, s.num_substeps)


# -- special physical scenarios -------------------------------------------------------------------------


def _unbalanced_advection(s, fraction: float):
    return functools.partial(
        physics.Advection,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction,
        velocity=s.advection_coef_vector,
    ), 1


def _diagonal_diffusion(s, fraction: float):
    return functools.partial(
        physics.Diffusion,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction,
        diffusivity=s.diffusion_coef_vector,
    ), 1


def _mixed_hyper_diffusion(s, fraction: float):
    # Exponax's diffuse_on_diffuse=True is -mu laplace^2, emutrain's HyperDiffusion; mu = -coefficient.
    return functools.partial(
        physics.HyperDiffusion,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction,
        hyper_diffusivity=-s.hyp_diffusion_coef,
    ), 1


def _anisotropic_diffusion(s, fraction: float):
    return functools.partial(
        physics.Diffusion,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction,
        diffusivity=s.diffusion_coef_matrix,
    ), 1


def _mixed_dispersion(s, fraction: float):
    # Exponax's advect_on_diffusion=True: xi (1 . grad) laplace u, mixed third derivatives included.
    return functools.partial(
        physics.Dispersion,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction,
        dispersivity=s.dispersion_coef,
        advect_on_diffusion=True,
    ), 1


def _swift_hohenberg(s, fraction: float):
    # APEBench leaves Exponax's integrator defaults: ETDRK2, dealiasing fraction 1/2 (cubic term).
    stepper = functools.partial(
        physics.SwiftHohenberg,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        reactivity=s.reactivity,
        critical_number=s.critical_number,
        polynomial_coefficients=s.polynomial_coefficients,
        **P.ode_options(s.num_points, 2, 0.5, 16, 1.0),
    )
    return _repeat(stepper, s.num_substeps)


GRAY_SCOTT_PATTERNS = {
    "alpha": (0.008, 0.046), "beta": (0.020, 0.046), "gamma": (0.024, 0.056), "delta": (0.028, 0.056),
    "epsilon": (0.02, 0.056), "zeta": (0.024, 0.06), "eta": (0.036, 0.063), "theta": (0.04, 0.06),
    "iota": (0.05, 0.0605), "kappa": (0.052, 0.063), "lambda": (0.036, 0.0655), "mu": (0.044, 0.066),
}  # fmt: skip
"""Pearson's pattern types -> (feed rate, kill rate), as APEBench's ``phy_gs_type``."""


def _gray_scott(s, fraction: float):
    if "pattern_type" in s.field_names():
        feed_rate, kill_rate = GRAY_SCOTT_PATTERNS[s.pattern_type]
    else:
        feed_rate, kill_rate = s.feed_rate, s.kill_rate
    stepper = functools.partial(
        physics.GrayScott,
        s.num_spatial_dims,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        diffusivity_1=s.diffusivity_1,
        diffusivity_2=s.diffusivity_2,
        feed_rate=feed_rate,
        kill_rate=kill_rate,
        **P.ode_options(s.num_points, 2, 0.5, 16, 1.0),
    )
    return _repeat(stepper, s.num_substeps)


def _poisson(s, fraction: float):
    return functools.partial(
        physics.Poisson, s.num_spatial_dims, s.domain_extent, s.num_points, order=s.order
    ), 1


def _decaying_turbulence(s, fraction: float):
    stepper = functools.partial(
        physics.NavierStokesVorticity,
        2,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        diffusivity=s.diffusivity,
        **_vorticity_options(s),
    )
    return _repeat(stepper, s.num_substeps)


def _kolmogorov_flow(s, fraction: float):
    # APEBench stores -curl u and forces its vorticity with -s k cos(k y): the force F_x = -s sin(k y).
    # emutrain stores curl u; the same flow needs injection_scale = -s. Exponax builds the drag term as
    # drag * sum_d (i k_d)^0, i.e. D * drag = 2 * drag (the zeroth-order convention of its linear parts).
    stepper = functools.partial(
        physics.KolmogorovFlowVorticity,
        2,
        s.domain_extent,
        s.num_points,
        s.dt * fraction / s.num_substeps,
        diffusivity=s.diffusivity,
        drag=2 * s.drag,
        injection_mode=s.injection_mode,
        injection_scale=-s.injection_scale,
        **_vorticity_options(s),
    )
    return _repeat(stepper, s.num_substeps)


def _vorticity_options(s) -> dict:
    return P.ode_options(s.num_points, s.order, s.dealiasing_fraction, s.num_circle_points, s.circle_radius)


# -- the table ------------------------------------------------------------------------------------------

_SPECS: list[Spec] = []


def _add(name, description, fields, build, *, coefficients=None, **kwargs):
    _SPECS.append(Spec(name, description, tuple(fields), build, coefficients=coefficients, **kwargs))


_COARSE = (("coarse_proportion", float, 0.5),)

# Linear, difficulty interface: gammas_j = alpha_j N^j 2^(j-1) D.
_add(
    "diff_lin",
    "linear PDE by difficulties gamma_j (default advection)",
    [("gammas", _FLOATS, (0.0, -4.0, 0.0, 0.0, 0.0)), *_COARSE],
    _linear_difficulty,
)
_add(
    "diff_lin_simple",
    "one linear term of order linear_term_order with difficulty linear_gamma",
    [("linear_gamma", float, -4.0), ("linear_term_order", int, 1), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0,) * s.linear_term_order + (s.linear_gamma,),
)
_add(
    "diff_adv",
    "advection",
    [("advection_gamma", float, -4.0), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0, s.advection_gamma, 0.0, 0.0, 0.0),
)
_add(
    "diff_diff",
    "diffusion",
    [("diffusion_gamma", float, 4.0), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_gamma, 0.0, 0.0),
)
_add(
    "diff_adv_diff",
    "advection-diffusion",
    [("advection_gamma", float, -4.0), ("diffusion_gamma", float, 4.0), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0, s.advection_gamma, s.diffusion_gamma, 0.0, 0.0),
)
_add(
    "diff_disp",
    "dispersion",
    [("dispersion_gamma", float, 4.0), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0, 0.0, 0.0, s.dispersion_gamma, 0.0),
)
_add(
    "diff_hyp_diff",
    "hyper-diffusion",
    [("hyp_diffusion_gamma", float, -4.0), *_COARSE],
    _linear_difficulty,
    coefficients=lambda s: (0.0, 0.0, 0.0, 0.0, s.hyp_diffusion_gamma, 0.0),
)
_add(
    "diff_four",
    "advection, diffusion, dispersion and hyper-diffusion",
    [
        ("advection_gamma", float, -4.0),
        ("diffusion_gamma", float, 4.0),
        ("dispersion_gamma", float, 4.0),
        ("hyp_diffusion_gamma", float, -4.0),
        *_COARSE,
    ],
    _linear_difficulty,
    coefficients=lambda s: (
        0.0,
        s.advection_gamma,
        s.diffusion_gamma,
        s.dispersion_gamma,
        s.hyp_diffusion_gamma,
    ),
)

# Convection (D channels), difficulty interface.
_add(
    "diff_conv",
    "convection (D channels) with linear terms gammas",
    [
        ("gammas", _FLOATS, (0.0, 0.0, 1.5, 0.0, 0.0)),
        ("convection_delta", float, -1.5),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_difficulty,
    channels=lambda s: s.num_spatial_dims,
)
_add(
    "diff_burgers",
    "Burgers (D channels)",
    [
        ("convection_delta", float, -1.5),
        ("diffusion_gamma", float, 1.5),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_difficulty,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_gamma, 0.0, 0.0),
)
_add(
    "diff_ks_cons",
    "Kuramoto-Sivashinsky, conservative form (1D)",
    [
        ("convection_delta", float, -1.0),
        ("diffusion_gamma", float, -2.0),
        ("hyp_diffusion_gamma", float, -18.0),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_difficulty,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_gamma, 0.0, s.hyp_diffusion_gamma),
    defaults=dict(_KS_DEFAULTS, vlim=(-2.5, 2.5)),
    spatial_dims=(1,),
)

# General nonlinear (one channel), difficulty interface: deltas = (quadratic, convection, gradient norm).
_add(
    "diff_nonlin",
    "general nonlinear PDE by difficulties gammas and deltas (default single-channel Burgers)",
    [("gammas", _FLOATS, (0.0, 0.0, 1.5, 0.0, 0.0)), ("deltas", _FLOATS, (0.0, -1.5, 0.0)), *_ODE_FIELDS],
    _nonlinear_difficulty,
)
_add(
    "diff_burgers_sc",
    "Burgers, single channel",
    [("convection_sc_delta", float, -1.5), ("diffusion_gamma", float, 1.5), *_ODE_FIELDS],
    _nonlinear_difficulty,
    coefficients=lambda s: ((0.0, 0.0, s.diffusion_gamma, 0.0, 0.0), (0.0, s.convection_sc_delta, 0.0)),
)
_add(
    "diff_kdv",
    "Korteweg-de Vries",
    [
        ("convection_sc_delta", float, -2.0),
        ("dispersion_gamma", float, -14.0),
        ("hyp_diffusion_gamma", float, -9.0),
        *_ODE_FIELDS,
    ],
    _nonlinear_difficulty,
    coefficients=lambda s: (
        (0.0, 0.0, 0.0, s.dispersion_gamma, s.hyp_diffusion_gamma),
        (0.0, s.convection_sc_delta, 0.0),
    ),
)
_add(
    "diff_ks",
    "Kuramoto-Sivashinsky, gradient-norm form",
    [
        ("gradient_norm_delta", float, -6.0),
        ("diffusion_gamma", float, -1.2),
        ("hyp_diffusion_gamma", float, -15.0),
        *_ODE_FIELDS,
    ],
    _nonlinear_difficulty,
    coefficients=lambda s: (
        (0.0, 0.0, s.diffusion_gamma, 0.0, s.hyp_diffusion_gamma),
        (0.0, 0.0, s.gradient_norm_delta),
    ),
    defaults=dict(_KS_DEFAULTS, vlim=(-6.5, 6.5)),
)
_add(
    "diff_fisher",
    "Fisher-KPP",
    [
        ("quadratic_delta", float, -0.02),
        ("drag_gamma", float, 0.02),
        ("diffusion_gamma", float, 0.2),
        *_ODE_FIELDS,
    ],
    _nonlinear_difficulty,
    coefficients=lambda s: ((s.drag_gamma, 0.0, s.diffusion_gamma), (s.quadratic_delta, 0.0, 0.0)),
    defaults=dict(ic_config="clamp;0.0;1.0;fourier;5;false;false"),
)

# Linear, normalized interface: alpha_j = a_j dt / L^j.
_add(
    "norm_lin",
    "linear PDE by normalized coefficients alphas (default advection)",
    [("alphas", _FLOATS, (0.0, -0.025, 0.0, 0.0, 0.0)), *_COARSE],
    _linear_normalized,
)
_add(
    "norm_lin_simple",
    "one linear term of order linear_term_order with coefficient linear_alpha",
    [("linear_alpha", float, -0.025), ("linear_term_order", int, 1), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0,) * s.linear_term_order + (s.linear_alpha,),
)
_add(
    "norm_adv",
    "advection",
    [("advection_alpha", float, -0.025), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0, s.advection_alpha, 0.0, 0.0, 0.0),
)
_add(
    "norm_diff",
    "diffusion",
    [("diffusion_alpha", float, 8e-4), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_alpha, 0.0, 0.0),
)
_add(
    "norm_adv_diff",
    "advection-diffusion",
    [("advection_alpha", float, -0.025), ("diffusion_alpha", float, 8e-4), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0, s.advection_alpha, s.diffusion_alpha),
)
_add(
    "norm_disp",
    "dispersion",
    [("dispersion_alpha", float, 2.5e-7), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0, 0.0, 0.0, s.dispersion_alpha, 0.0),
)
_add(
    "norm_hypdiff",
    "hyper-diffusion",
    [("hyp_diffusion_alpha", float, -7.5e-10), *_COARSE],
    _linear_normalized,
    coefficients=lambda s: (0.0, 0.0, 0.0, 0.0, s.hyp_diffusion_alpha),
)
_add(
    "norm_four",
    "advection, diffusion, dispersion and hyper-diffusion",
    [
        ("advection_alpha", float, -0.025),
        ("diffusion_alpha", float, 8e-4),
        ("dispersion_alpha", float, 2.5e-7),
        ("hyp_diffusion_alpha", float, -7.5e-10),
        *_COARSE,
    ],
    _linear_normalized,
    coefficients=lambda s: (
        0.0,
        s.advection_alpha,
        s.diffusion_alpha,
        s.dispersion_alpha,
        s.hyp_diffusion_alpha,
    ),
)

# Convection, normalized interface.
_add(
    "norm_conv",
    "convection (D channels) with linear terms alphas",
    [
        ("alphas", _FLOATS, (0.0, 0.0, 3e-5, 0.0, 0.0)),
        ("convection_beta", float, -1.25e-2),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_normalized,
    channels=lambda s: s.num_spatial_dims,
)
_add(
    "norm_burgers",
    "Burgers (D channels)",
    [
        ("convection_beta", float, -1.25e-2),
        ("diffusion_alpha", float, 3e-5),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_normalized,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_alpha, 0.0, 0.0),
)
# APEBench 0.1.1 declares convection_delta here but steps with convection_beta; both are kept as declared.
_add(
    "norm_ks_cons",
    "Kuramoto-Sivashinsky, conservative form (1D); steps with convection_beta, convection_delta is unused "
    "as in APEBench 0.1.1",
    [
        ("convection_beta", float, -1.25e-2),
        ("convection_delta", float, -6e-3),
        ("diffusion_alpha", float, -4e-5),
        ("hyp_diffusion_alpha", float, -3e-8),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_normalized,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_alpha, 0.0, s.hyp_diffusion_alpha),
    defaults=dict(_KS_DEFAULTS, vlim=(-2.5, 2.5)),
    spatial_dims=(1,),
)

# General nonlinear, normalized interface.
_add(
    "norm_nonlin",
    "general nonlinear PDE by alphas and betas (default single-channel Burgers)",
    [("alphas", _FLOATS, (0.0, 0.0, 3e-5, 0.0, 0.0)), ("betas", _FLOATS, (0.0, -0.0125, 0.0)), *_ODE_FIELDS],
    _nonlinear_normalized,
)
_add(
    "norm_burgers_sc",
    "Burgers, single channel",
    [("convection_sc_beta", float, -0.0125), ("diffusion_alpha", float, 3e-5), *_ODE_FIELDS],
    _nonlinear_normalized,
    coefficients=lambda s: ((0.0, 0.0, s.diffusion_alpha, 0.0, 0.0), (0.0, s.convection_sc_beta, 0.0)),
)
_add(
    "norm_kdv",
    "Korteweg-de Vries",
    [
        ("convection_sc_beta", float, -0.0125),
        ("dispersion_alpha", float, -8.5e-7),
        ("hyp_diffusion_alpha", float, -2e-9),
        *_ODE_FIELDS,
    ],
    _nonlinear_normalized,
    coefficients=lambda s: (
        (0.0, 0.0, 0.0, s.dispersion_alpha, s.hyp_diffusion_alpha),
        (0.0, s.convection_sc_beta, 0.0),
    ),
)
_add(
    "norm_ks",
    "Kuramoto-Sivashinsky, gradient-norm form",
    [
        ("gradient_norm_beta", float, -0.00025),
        ("diffusion_alpha", float, -0.000025),
        ("hyp_diffusion_alpha", float, -3e-9),
        *_ODE_FIELDS,
    ],
    _nonlinear_normalized,
    coefficients=lambda s: (
        (0.0, 0.0, s.diffusion_alpha, 0.0, s.hyp_diffusion_alpha),
        (0.0, 0.0, s.gradient_norm_beta),
    ),
    defaults=dict(_KS_DEFAULTS, vlim=(-6.5, 6.5)),
)
_add(
    "norm_fisher",
    "Fisher-KPP",
    [
        ("quadratic_beta", float, -0.02),
        ("drag_alpha", float, 0.02),
        ("diffusion_alpha", float, 4e-6),
        *_ODE_FIELDS,
    ],
    _nonlinear_normalized,
    coefficients=lambda s: ((s.drag_alpha, 0.0, s.diffusion_alpha, 0.0, 0.0), (s.quadratic_beta, 0.0, 0.0)),
    defaults=dict(ic_config="clamp;0.0;1.0;fourier;5;false;false"),
)

# Physical interface: domain_extent L, time step dt, coarse stepper with dt * coarse_proportion.
_PHY = (("domain_extent", float, 1.0), ("dt", float, 0.1))
_add(
    "phy_lin",
    "linear PDE by coefficients a_coefs",
    [*_PHY, ("a_coefs", _FLOATS, (0.0, -0.25, 0.0, 0.0, 0.0)), *_COARSE],
    _linear_physical,
)
_add(
    "phy_lin_simple",
    "one linear term of order linear_term_order with coefficient linear_coef",
    [*_PHY, ("linear_coef", float, -0.25), ("linear_term_order", int, 1), *_COARSE],
    _linear_physical,
    coefficients=lambda s: (0.0,) * s.linear_term_order + (s.linear_coef,),
)
_add(
    "phy_adv",
    "advection",
    [*_PHY, ("advection_coef", float, -0.25), *_COARSE],
    _linear_physical,
    coefficients=lambda s: (0.0, s.advection_coef, 0.0, 0.0, 0.0),
)
_add(
    "phy_diff",
    "diffusion",
    [*_PHY, ("diffusion_coef", float, 0.008), *_COARSE],
    _linear_physical,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_coef, 0.0, 0.0),
)
_add(
    "phy_adv_diff",
    "advection-diffusion",
    [*_PHY, ("advection_coef", float, -0.25), ("diffusion_coef", float, 0.008), *_COARSE],
    _linear_physical,
    coefficients=lambda s: (0.0, s.advection_coef, s.diffusion_coef, 0.0, 0.0),
)
# "dipersion_coef" is APEBench 0.1.1's spelling.
_add(
    "phy_disp",
    "dispersion",
    [("domain_extent", float, 1.0), ("dt", float, 0.001), ("dipersion_coef", float, 0.00025), *_COARSE],
    _linear_physical,
    coefficients=lambda s: (0.0, 0.0, 0.0, s.dipersion_coef, 0.0),
)
_add(
    "phy_hyp_diff",
    "hyper-diffusion",
    [
        ("domain_extent", float, 1.0),
        ("dt", float, 0.00001),
        ("hyper_diffusion_coef", float, -0.000075),
        *_COARSE,
    ],
    _linear_physical,
    coefficients=lambda s: (0.0, 0.0, 0.0, 0.0, s.hyper_diffusion_coef),
)
_add(
    "phy_four",
    "advection, diffusion, dispersion and hyper-diffusion",
    [
        ("domain_extent", float, 1.0),
        ("dt", float, 0.00001),
        ("advection_coef", float, -2500.0),
        ("diffusion_coef", float, 80.0),
        ("dispersion_coef", float, 0.025),
        ("hyp_diffusion_coef", float, -0.000075),
        *_COARSE,
    ],
    _linear_physical,
    coefficients=lambda s: (0.0, s.advection_coef, s.diffusion_coef, s.dispersion_coef, s.hyp_diffusion_coef),
)

_add(
    "phy_conv",
    "convection (D channels) with linear terms a_coefs",
    [
        *_PHY,
        ("a_coefs", _FLOATS, (0.0, 0.0, 0.0003, 0.0, 0.0)),
        ("convection_coef", float, -0.125),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_physical,
    channels=lambda s: s.num_spatial_dims,
)
_add(
    "phy_burgers",
    "Burgers (D channels)",
    [
        *_PHY,
        ("convection_coef", float, -0.125),
        ("diffusion_coef", float, 0.0003),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_physical,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_coef, 0.0, 0.0),
)
_add(
    "phy_ks_cons",
    "Kuramoto-Sivashinsky, conservative form (1D)",
    [
        ("domain_extent", float, 60.0),
        ("dt", float, 0.1),
        ("convection_coef", float, -3.6),
        ("diffusion_coef", float, -1.44),
        ("hyp_diffusion_coef", float, -0.4),
        ("conservative", bool, True),
        *_ODE_FIELDS,
    ],
    _convection_physical,
    channels=lambda s: s.num_spatial_dims,
    coefficients=lambda s: (0.0, 0.0, s.diffusion_coef, 0.0, s.hyp_diffusion_coef),
    defaults=dict(_KS_DEFAULTS, vlim=(-2.5, 2.5)),
    spatial_dims=(1,),
)

_add(
    "phy_nonlin",
    "general nonlinear PDE by a_coefs and b_coefs (default single-channel Burgers)",
    [
        *_PHY,
        ("a_coefs", _FLOATS, (0.0, 0.0, 0.0003, 0.0, 0.0)),
        ("b_coefs", _FLOATS, (0.0, -0.125, 0.0)),
        *_ODE_FIELDS,
    ],
    _nonlinear_physical,
)
_add(
    "phy_burgers_sc",
    "Burgers, single channel",
    [*_PHY, ("convection_sc_coef", float, -0.125), ("diffusion_coef", float, 0.0003), *_ODE_FIELDS],
    _nonlinear_physical,
    coefficients=lambda s: ((0.0, 0.0, s.diffusion_coef, 0.0, 0.0), (0.0, s.convection_sc_coef, 0.0)),
)
_add(
    "phy_kdv",
    "Korteweg-de Vries",
    [
        ("domain_extent", float, 50.0),
        ("dt", float, 0.1),
        ("convection_sc_coef", float, -6.0),
        ("dispersion_coef", float, -1.0),
        ("hyp_diffusion_coef", float, -0.125),
        *_ODE_FIELDS,
    ],
    _nonlinear_physical,
    coefficients=lambda s: (
        (0.0, 0.0, 0.0, s.dispersion_coef, s.hyp_diffusion_coef),
        (0.0, s.convection_sc_coef, 0.0),
    ),
)
_add(
    "phy_ks",
    "Kuramoto-Sivashinsky, gradient-norm form",
    [
        ("domain_extent", float, 60.0),
        ("dt", float, 0.1),
        ("gradient_norm_coef", float, -1.0),
        ("diffusion_coef", float, -1.0),
        ("hyp_diffusion_coef", float, -1.0),
        *_ODE_FIELDS,
    ],
    _nonlinear_physical,
    coefficients=lambda s: (
        (0.0, 0.0, s.diffusion_coef, 0.0, s.hyp_diffusion_coef),
        (0.0, 0.0, s.gradient_norm_coef),
    ),
    defaults=dict(_KS_DEFAULTS, vlim=(-6.5, 6.5)),
)

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
    _polynomial_physical,
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
    _polynomial_physical,
    coefficients=lambda s: ((s.drag_coef, 0.0, s.diffusion_coef, 0.0, 0.0), (0.0, 0.0, s.quadratic_coef)),
    defaults=dict(ic_config="clamp;0.0;1.0;fourier;5;false;false"),
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
    _swift_hohenberg,
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
    _gray_scott,
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
    _gray_scott,
    defaults=dict(num_spatial_dims=2, ic_config="gray_scott_blobs"),
    spatial_dims=(2, 3),
    channels=lambda s: 2,
)
_add(
    "phy_aniso_diff",
    "anisotropic diffusion div(A grad u) with a symmetric matrix A (2D/3D)",
    [*_PHY, ("diffusion_coef_matrix", _MATRIX, ((0.001, 0.0005), (0.0005, 0.002))), *_COARSE],
    _anisotropic_diffusion,
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)
_add(
    "phy_mix_disp",
    "dispersion xi (1 . grad) laplace u with mixed derivatives (2D/3D)",
    [("domain_extent", float, 1.0), ("dt", float, 0.001), ("dispersion_coef", float, 0.00025), *_COARSE],
    _mixed_dispersion,
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
    _unbalanced_advection,
    defaults=dict(num_spatial_dims=3),
    spatial_dims=(2, 3),
)
_add(
    "phy_diag_diff",
    "diffusion with a different diffusivity per axis (2D/3D; default has 2 entries)",
    [*_PHY, ("diffusion_coef_vector", _FLOATS, (0.001, 0.002)), *_COARSE],
    _diagonal_diffusion,
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
    _mixed_hyper_diffusion,
    defaults=dict(num_spatial_dims=2),
    spatial_dims=(2, 3),
)

_add(
    "phy_decay_turb",
    "decaying 2D turbulence (vorticity; emutrain stores curl u = -APEBench's field)",
    [*_PHY, ("diffusivity", float, 1e-4), *_ODE_FIELDS],
    _decaying_turbulence,
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
    _kolmogorov_flow,
    defaults=dict(num_spatial_dims=2, num_warmup_steps=500, vlim=(-10.0, 10.0)),
    spatial_dims=(2,),
)

SPECS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}

VORTICITY_SCENARIOS = ("phy_decay_turb", "phy_kolm_flow")

UNSUPPORTED: dict[str, str] = {}
"""APEBench 0.1.1 names emutrain cannot step, with the reason (none since the generic steppers landed)."""
