"""The coefficient conversions, the integrator settings object and the thin normalized/difficulty
constructors: hand-computed values, identities and errors naming the parameter."""

import numpy as np
import pytest

import emutrain.physics as ep


def test_convection_difficulty_is_the_convection_slot_of_the_nonlinear_rule():
    beta = ep.convection_difficulty_to_normalized(
        1.5, num_spatial_dims=2, num_points=16, maximum_absolute=2.0
    )
    assert beta == 1.5 / (2.0 * 16 * 2)
    assert (
        beta
        == ep.nonlinear_difficulties_to_normalized(
            (0.0, 1.5, 0.0), num_spatial_dims=2, num_points=16, maximum_absolute=2.0
        )[1]
    )


def test_interface_steppers_are_the_general_stepper_with_converted_coefficients():
    simple = ep.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5, order=1)
    general = ep.GeneralLinearStepper(1, 1.0, 48, 1.0, linear_coefficients=(0.0, -6.5 / 48))
    assert isinstance(simple, ep.GeneralLinearStepper)
    assert simple.linear_coefficients == general.linear_coefficients and simple.linear_difficulties == (
        0.0,
        -6.5,
    )
    u = np.sin(2 * np.pi * np.arange(48) / 48)[:, None].astype(np.float32)
    np.testing.assert_array_equal(simple(u), general(u))
    assert simple == ep.DifficultyLinearStepperSimple(1, 48, difficulty=-6.5) and simple != general
    nonlinear = ep.DifficultyNonlinearStepper(
        2, 16, linear_difficulties=(0.0, 0.0, 1.5), nonlinear_difficulties=(0.0, -3.0, 0.0)
    )
    assert isinstance(nonlinear, ep.GeneralNonlinearStepper)
    assert nonlinear.linear_coefficients == (0.0, 0.0, 1.5 / (16**2 * 2 * 2))
    assert nonlinear.nonlinear_coefficients == (0.0, -3.0 / 32, 0.0)
    assert nonlinear.nonlinear_difficulties == (0.0, -3.0, 0.0)
    convection = ep.DifficultyConvectionStepper(1, 32, convection_difficulty=4.0, conservative=True)
    assert isinstance(convection, ep.GeneralConvectionStepper)
    assert (convection.convection_scale, convection.convection_difficulty) == (4.0 / 32, 4.0)
    with pytest.raises(AttributeError, match="immutable"):
        convection.convection_difficulty = 1.0


def test_etdrk_options_are_part_of_the_stepper_identity():
    options = ep.ETDRKOptions(order=3, dealiasing_fraction=0.5)
    assert options == ep.ETDRKOptions(order=3, dealiasing_fraction=0.5)
    assert hash(options) == hash(ep.ETDRKOptions(order=3, dealiasing_fraction=0.5))
    a = ep.Burgers(1, 1.0, 16, 0.1, etdrk=options)
    assert a == ep.Burgers(1, 1.0, 16, 0.1, etdrk=ep.ETDRKOptions(order=3, dealiasing_fraction=0.5))
    assert a != ep.Burgers(1, 1.0, 16, 0.1)
    assert ep.Burgers(1, 1.0, 16, 0.1).etdrk == ep.ETDRKOptions()
    assert ep.GrayScott(1, 1.0, 16, 1.0).etdrk.dealiasing_fraction == 0.5
    with pytest.raises(AttributeError):
        options.order = 2


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: ep.ETDRKOptions(order=5), ValueError, "order must be <= 4"),
        (lambda: ep.ETDRKOptions(order=2.0), TypeError, "order must be an int"),
        (
            lambda: ep.ETDRKOptions(dealiasing_fraction=1.5),
            ValueError,
            r"dealiasing_fraction must be in \(0, 1\]",
        ),
        (lambda: ep.ETDRKOptions(num_circle_points=0), ValueError, "num_circle_points must be >= 1"),
        (lambda: ep.ETDRKOptions(circle_radius=0.0), ValueError, "circle_radius must be > 0"),
        (lambda: ep.Burgers(1, 1.0, 16, 0.1, etdrk={"order": 2}), TypeError, "etdrk must be an ETDRKOptions"),
        (
            lambda: ep.difficulties_to_normalized((1.0,), num_spatial_dims=1, num_points=0),
            ValueError,
            "num_points",
        ),
        (
            lambda: ep.nonlinear_difficulties_to_normalized(
                (0.0, 1.0, 0.0), num_spatial_dims=1, num_points=8, maximum_absolute=0.0
            ),
            ValueError,
            "maximum_absolute must be > 0",
        ),
        (
            lambda: ep.convection_difficulty_to_normalized("1", num_spatial_dims=1, num_points=8),
            TypeError,
            "convection_difficulty",
        ),
    ],
)
def test_bad_settings_raise_naming_the_parameter(make, error, match):
    with pytest.raises(error, match=match):
        make()
