"""Configuration tests run in float64 (enabled per test, never globally) on tiny problems (B=2, N=8)."""

import jax
import pytest


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield
