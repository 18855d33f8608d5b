"""Training methods by name: APEBench 0.1.1's strings (``one``, ``sup;T``, ``div;T``) and emutrain's
additions.

Grammar (names case-insensitive, spaces ignored)::

    method    := term ("+" term)*
    term      := [WEIGHT "*"] simple            WEIGHT: a number >= 0 (e.g. 0.5, 1e-2)
    simple    := one | sup;T[;CUT] | div;T[;CUT[;CUT_DIV]]              (APEBench's meaning)
               | mix;T;P | res;T | tf;T;K | divchain;T;B               (emutrain's additions)

``T`` is the number of autoregressive network steps (``num_rollout_steps``); ``CUT`` and ``CUT_DIV`` are
``true`` or ``false``. The simple methods map to configurations as APEBench maps them to trainax's:

=======================  ==========================================================================
``one``                  ``Supervised(1)`` (one-step supervised)
``sup;T[;CUT]``          ``Supervised(T, cut_bptt=CUT)`` (``cut_bptt_every=1``; CUT default false)
``div;T[;CUT[;CUT_DIV]]``  ``DivertedChainBranchOne(T, cut_bptt=CUT, cut_div_chain=CUT_DIV)`` (defaults false)
``mix;T;P``              ``MixChainPostPhysics(T, num_post_physics_steps=P)``
``res;T``                ``ResiduumFromRefStepper(T)``: ``Residuum`` with ``rho(n, p) = n - P(p)`` from the
                         ref stepper P (equal to ``div;T`` in loss and gradient)
``tf;T;K``               ``TeacherForcing(T, reset_every=K)``
``divchain;T;B``         ``DivertedChain(T, num_branch_steps=B)``
=======================  ==========================================================================

A single unweighted term gives that configuration; anything else a :class:`Composite` of the terms with
their weights (default 1): ``sup;3+0.5*div;3`` is ``Composite((Supervised(3), DivertedChainBranchOne(3)),
weights=(1.0, 0.5))``. Window lengths: ``required_window_length`` of the result; APEBench draws the initial
conditions of ``div;T`` from the same windows of length ``T + 1`` as ``sup;T``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import Array

from emutrain.configurations.composite import Composite
from emutrain.configurations.diverted import DivertedChain, DivertedChainBranchOne
from emutrain.configurations.residuum import Residuum
from emutrain.configurations.supervised import MixChainPostPhysics, Supervised, TeacherForcing

__all__ = ["METHOD_FORMS", "ResiduumFromRefStepper", "from_method"]

METHOD_FORMS = ("one", "sup;T[;CUT]", "div;T[;CUT[;CUT_DIV]]", "mix;T;P", "res;T", "tf;T;K", "divchain;T;B")
_BOOLEANS = {"true": True, "false": False}
# '+' separates terms, except as the exponent sign of a number such as 1e+3.
_TERM_SEPARATOR = re.compile(r"(?<!\d[eE])\+")


@dataclass(frozen=True)
class ResiduumFromRefStepper(Residuum):
    """:class:`Residuum` whose residuum is ``rho(n, p) = n - P(p)``, P the reference stepper given at call.

    Needs ``ref_stepper`` instead of ``residuum_fn``. Equals ``DivertedChainBranchOne`` with the same
    arguments in loss and gradient (DESIGN §4).
    """

    needs_ref_stepper = True
    needs_residuum_fn = False

    def __call__(
        self,
        stepper: Callable[[Any], Any],
        data: Any,
        *,
        ref_stepper: Callable[[Any], Any] | None = None,
        residuum_fn: Callable[[Any, Any], Any] | None = None,
        key: Array | None = None,
    ) -> Array:
        """Scalar loss of ``stepper`` on the window batch ``data`` ``(B, W, *spatial, C)``."""
        if ref_stepper is None:
            raise ValueError(f"ref_stepper must be given for {type(self).__name__}, got None")

        def ref_residuum(n: Any, p: Any) -> Any:
            return jax.tree.map(jnp.subtract, n, ref_stepper(p))

        return super().__call__(stepper, data, ref_stepper=ref_stepper, residuum_fn=ref_residuum, key=key)


def _error(spec: str, detail: str) -> ValueError:
    return ValueError(
        f"{detail} in training method {spec!r}; valid forms: {', '.join(METHOD_FORMS)}, "
        f"combined as [WEIGHT*]METHOD+[WEIGHT*]METHOD+..."
    )


def _count(spec: str, field: str, token: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise _error(spec, f"{field} must be an integer >= 1, got {token!r}") from None
    if value < 1:
        raise _error(spec, f"{field} must be an integer >= 1, got {value}")
    return value


def _flag(spec: str, field: str, token: str) -> bool:
    if token.lower() not in _BOOLEANS:
        raise _error(spec, f"{field} must be 'true' or 'false', got {token!r}")
    return _BOOLEANS[token.lower()]


def _simple(spec: str, term: str) -> Any:
    tokens = term.split(";")
    name, args = tokens[0].lower(), tokens[1:]
    counts = {
        "one": (0, 0),
        "sup": (1, 2),
        "div": (1, 3),
        "mix": (2, 2),
        "res": (1, 1),
        "tf": (2, 2),
        "divchain": (2, 2),
    }
    if name not in counts:
        raise _error(spec, f"unknown method {tokens[0]!r} (term {term!r})")
    low, high = counts[name]
    if not low <= len(args) <= high:
        form = next(f for f in METHOD_FORMS if f.split(";")[0] == name)
        raise _error(spec, f"term {term!r} must have the form {form}")
    if name == "one":
        return Supervised(1)
    steps = _count(spec, "T", args[0])
    if name == "sup":
        return Supervised(steps, cut_bptt=len(args) > 1 and _flag(spec, "CUT", args[1]))
    if name == "div":
        return DivertedChainBranchOne(
            steps,
            cut_bptt=len(args) > 1 and _flag(spec, "CUT", args[1]),
            cut_div_chain=len(args) > 2 and _flag(spec, "CUT_DIV", args[2]),
        )
    if name == "res":
        return ResiduumFromRefStepper(steps)
    second = {"mix": "P", "tf": "K", "divchain": "B"}[name]
    value = _count(spec, second, args[1])
    if name == "mix":
        return MixChainPostPhysics(steps, num_post_physics_steps=value)
    if name == "tf":
        return TeacherForcing(steps, reset_every=value)
    if value > steps:
        raise _error(spec, f"B must be <= T={steps}, got {value}")
    return DivertedChain(steps, num_branch_steps=value)


def from_method(spec: str) -> Any:
    """The configuration (or :class:`Composite`) of a training-method string (see the module docstring).

    Malformed strings raise ValueError listing the valid forms.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str such as 'sup;3', got {spec!r}")
    compact = "".join(spec.split())
    if not compact:
        raise _error(spec, "empty method")
    configurations, weights = [], []
    for term in _TERM_SEPARATOR.split(compact):
        weight = 1.0
        if "*" in term:
            weight_token, _, term = term.partition("*")
            try:
                weight = float(weight_token)
            except ValueError:
                raise _error(spec, f"WEIGHT must be a number, got {weight_token!r}") from None
            if not (math.isfinite(weight) and weight >= 0):
                raise _error(spec, f"WEIGHT must be a finite number >= 0, got {weight_token!r}")
        if not term:
            raise _error(spec, "empty term")
        configurations.append(_simple(spec, term))
        weights.append(weight)
    if len(configurations) == 1 and "*" not in compact:
        return configurations[0]
    return Composite(tuple(configurations), weights=tuple(weights))
