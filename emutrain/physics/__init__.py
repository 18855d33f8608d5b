"""Differentiable pseudo-spectral reference solvers (pure JAX, channels-last, any leading batch axes).

Steppers map ``(..., *spatial, C)`` states on the periodic domain ``[0, L)^D`` forward by one time step;
they are immutable, hashable by their constructor arguments, and jit/grad/vmap safe. The ETDRK steppers take
their integrator settings as one :class:`ETDRKOptions`; each PDE family has one stepper taking physical
coefficients, and the normalized/difficulty constructors convert with :mod:`emutrain.physics.coefficients`.
:class:`UpwindAdvection` is a first-order upwind finite-difference stepper (periodic or Dirichlet grids).
"""

from emutrain.physics.coefficients import (
    convection_difficulty_to_normalized,
    denormalize_coefficients,
    denormalize_nonlinear_coefficients,
    difficulties_to_normalized,
    nonlinear_difficulties_to_normalized,
    normalize_coefficients,
    normalize_nonlinear_coefficients,
    normalized_to_difficulties,
    normalized_to_nonlinear_difficulties,
)
from emutrain.physics.etdrk import ETDRK_ORDERS, ETDRKOptions, etdrk_coefficients, etdrk_step
from emutrain.physics.finite_difference import FD_BOUNDARIES, UpwindAdvection
from emutrain.physics.general import (
    DifficultyConvectionStepper,
    DifficultyNonlinearStepper,
    DifficultyPolynomialStepper,
    GeneralConvectionStepper,
    GeneralNonlinearStepper,
    GeneralPolynomialStepper,
    NormalizedConvectionStepper,
    NormalizedNonlinearStepper,
    NormalizedPolynomialStepper,
)
from emutrain.physics.ic import (
    GaussianRandomField,
    RandomSineWaves,
    RandomTruncatedFourierSeries,
    build_ic_set,
)
from emutrain.physics.linear import (
    Advection,
    AdvectionDiffusion,
    DifficultyLinearStepper,
    DifficultyLinearStepperSimple,
    Diffusion,
    Dispersion,
    GeneralLinearStepper,
    HyperDiffusion,
    NormalizedLinearStepper,
    Poisson,
)
from emutrain.physics.metrics import correlation, mae, mse, nmae, nmse, nrmse, reduce_sample, rmse
from emutrain.physics.navier_stokes import KolmogorovFlowVorticity, NavierStokesVorticity
from emutrain.physics.nonlinear import (
    Burgers,
    KortewegDeVries,
    KuramotoSivashinsky,
    KuramotoSivashinskyConservative,
)
from emutrain.physics.reaction import FisherKPP, GrayScott, SwiftHohenberg
from emutrain.physics.reaction_ic import ClampedIC, RandomGaussianBlobs
from emutrain.physics.resolution import map_between_resolutions
from emutrain.physics.rollout import RepeatedStepper, StepperResiduum, repeat, residuum_from_stepper, rollout
from emutrain.physics.spectral import (
    dealiasing_mask,
    derivative,
    derivative_operator,
    integer_wavenumbers,
    irfft_spatial,
    laplace_operator,
    make_grid,
    nyquist_mask,
    rfft_spatial,
    spatial_rfft_shape,
    wavenumbers,
)
from emutrain.physics.stepper import SpectralStepper, validate_state

__all__ = [
    # steppers
    "SpectralStepper",
    "GeneralLinearStepper",
    "Advection",
    "Diffusion",
    "AdvectionDiffusion",
    "Dispersion",
    "HyperDiffusion",
    "Poisson",
    "NormalizedLinearStepper",
    "DifficultyLinearStepper",
    "DifficultyLinearStepperSimple",
    "Burgers",
    "KortewegDeVries",
    "KuramotoSivashinsky",
    "KuramotoSivashinskyConservative",
    "NavierStokesVorticity",
    "KolmogorovFlowVorticity",
    "GeneralNonlinearStepper",
    "NormalizedNonlinearStepper",
    "DifficultyNonlinearStepper",
    "GeneralConvectionStepper",
    "NormalizedConvectionStepper",
    "DifficultyConvectionStepper",
    "GeneralPolynomialStepper",
    "NormalizedPolynomialStepper",
    "DifficultyPolynomialStepper",
    "FisherKPP",
    "GrayScott",
    "SwiftHohenberg",
    "UpwindAdvection",
    "FD_BOUNDARIES",
    "normalize_coefficients",
    "denormalize_coefficients",
    "difficulties_to_normalized",
    "normalized_to_difficulties",
    "normalize_nonlinear_coefficients",
    "denormalize_nonlinear_coefficients",
    "nonlinear_difficulties_to_normalized",
    "normalized_to_nonlinear_difficulties",
    "convection_difficulty_to_normalized",
    "validate_state",
    # integrators
    "ETDRK_ORDERS",
    "ETDRKOptions",
    "etdrk_coefficients",
    "etdrk_step",
    # initial conditions
    "RandomTruncatedFourierSeries",
    "GaussianRandomField",
    "RandomSineWaves",
    "RandomGaussianBlobs",
    "ClampedIC",
    "build_ic_set",
    # rollouts
    "rollout",
    "repeat",
    "RepeatedStepper",
    "residuum_from_stepper",
    "StepperResiduum",
    "map_between_resolutions",
    # spectral helpers
    "rfft_spatial",
    "irfft_spatial",
    "spatial_rfft_shape",
    "integer_wavenumbers",
    "wavenumbers",
    "derivative_operator",
    "laplace_operator",
    "nyquist_mask",
    "dealiasing_mask",
    "derivative",
    "make_grid",
    # metrics
    "mse",
    "nmse",
    "rmse",
    "nrmse",
    "mae",
    "nmae",
    "correlation",
    "reduce_sample",
]
