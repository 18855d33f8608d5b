"""Training methods by name: APEBench 0.1.1's strings (``one``, ``sup;T``, ``div;T``) and emutrain's
additions.

Grammar (names case-insensitive, spaces ignored)::

    method    := term ("+" term)*
    term      := [WEIGHT "*"] simple            WEIGHT: a finite number >= 0 (e.g. 0.5, 1e-2), not all 0
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

_BOOLEANS = {"true": True, "false": False}
# '+' separates terms, except as the exponent sign of a number such as 1e+3.
_TERM_SEPARATOR = re.compile(r"(?<!\d[eE])\+")


@dataclass(frozen=True)
class ResiduumFromRefStepper(Residuum):
    """:class:`Residuum` whose residuum is ``rho(n, p) = n - P(p)``, P the reference stepper given at call.

    Needs ``ref_stepper`` instead of ``residuum_fn``. Equals ``DivertedChainBranchOne`` with the same
    arguments in loss and gradient (docs/architecture.md, "Loss semantics").
    """

    needs_ref_stepper = True
    needs_residuum_fn = False

    def _free_step(self, stepper: Any, p: Any, *, ref_stepper: Any, residuum_fn: Any) -> tuple[Any, Array]:
        def ref_residuum(n: Any, previous: Any) -> Any:
            return jax.tree.map(jnp.subtract, n, ref_stepper(previous))

        return super()._free_step(stepper, p, ref_stepper=ref_stepper, residuum_fn=ref_residuum)


Values = dict[str, Any]


@dataclass(frozen=True)
class _Method:
    """One row of the method table: its string form and its builder.

    ``form`` is ``name;FIELD;...`` with optional trailing fields in brackets (``div;T[;CUT[;CUT_DIV]]``);
    ``CUT`` and ``CUT_DIV`` are booleans (default false), every other field an integer >= 1.
    ``build(values)`` gets the fields by name; ``limit(values)`` says what is wrong with them, or None.
    """

    form: str
    build: Callable[[Values], Any]
    limit: Callable[[Values], str | None] = lambda values: None

    @property
    def name(self) -> str:
        return self.form.split(";")[0]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.form.replace("[", "").replace("]", "").split(";")[1:])

    @property
    def num_required(self) -> int:
        return len(self.form.split("[")[0].split(";")) - 1


_METHODS = (
    _Method("one", lambda v: Supervised(1)),
    _Method("sup;T[;CUT]", lambda v: Supervised(v["T"], cut_bptt=v["CUT"])),
    _Method(
        "div;T[;CUT[;CUT_DIV]]",
        lambda v: DivertedChainBranchOne(v["T"], cut_bptt=v["CUT"], cut_div_chain=v["CUT_DIV"]),
    ),
    _Method("mix;T;P", lambda v: MixChainPostPhysics(v["T"], num_post_physics_steps=v["P"])),
    _Method("res;T", lambda v: ResiduumFromRefStepper(v["T"])),
    _Method("tf;T;K", lambda v: TeacherForcing(v["T"], reset_every=v["K"])),
    _Method(
        "divchain;T;B",
        lambda v: DivertedChain(v["T"], num_branch_steps=v["B"]),
        lambda v: f"B must be <= T={v['T']}, got {v['B']}" if v["B"] > v["T"] else None,
    ),
)
_BY_NAME = {row.name: row for row in _METHODS}
METHOD_FORMS = tuple(row.form for row in _METHODS)
_FLAGS = ("CUT", "CUT_DIV")


def _error(spec: str, detail: str) -> ValueError:
    return ValueError(
        f"{detail} in training method {spec!r}; valid forms: {', '.join(METHOD_FORMS)}, "
        f"combined as [WEIGHT*]METHOD+[WEIGHT*]METHOD+... with weights >= 0, not all zero"
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
    """The configuration of one unweighted term such as ``div;3;true``."""
    name, *tokens = term.split(";")
    row = _BY_NAME.get(name.lower())
    if row is None:
        raise _error(spec, f"unknown method {name!r} (term {term!r})")
    if not row.num_required <= len(tokens) <= len(row.fields):
        raise _error(spec, f"term {term!r} must have the form {row.form}")
    values: Values = {field: False for field in row.fields if field in _FLAGS}
    for field, token in zip(row.fields, tokens):
        values[field] = _flag(spec, field, token) if field in _FLAGS else _count(spec, field, token)
    detail = row.limit(values)
    if detail is not None:
        raise _error(spec, detail)
    return row.build(values)


def _weighted(spec: str, term: str) -> tuple[float, str]:
    """The weight (default 1) and the simple method of one term ``[WEIGHT*]simple``."""
    if "*" not in term:
        return 1.0, term
    token, _, term = term.partition("*")
    try:
        weight = float(token)
    except ValueError:
        raise _error(spec, f"WEIGHT must be a number, got {token!r}") from None
    if not (math.isfinite(weight) and weight >= 0):
        raise _error(spec, f"WEIGHT must be a finite number >= 0, got {token!r}")
    return weight, term


def from_method(spec: str) -> Any:
    """The configuration (or :class:`Composite`) of a training-method string (see the module docstring).

    Malformed strings and weights that are negative, not finite or all zero raise ValueError naming the
    string and listing the valid forms.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str such as 'sup;3', got {spec!r}")
    compact = "".join(spec.split())
    if not compact:
        raise _error(spec, "empty method")
    configurations, weights = [], []
    for term in _TERM_SEPARATOR.split(compact):
        weight, term = _weighted(spec, term)
        if not term:
            raise _error(spec, "empty term")
        configurations.append(_simple(spec, term))
        weights.append(weight)
    if not any(weights):
        # a zero-weighted sum trains nothing: loss and gradient would be 0 at every step
        raise _error(spec, f"WEIGHT must not be zero for every term, got {tuple(weights)}")
    if len(configurations) == 1 and "*" not in compact:
        return configurations[0]
    return Composite(tuple(configurations), weights=tuple(weights))
