"""Named PDE learning problems with APEBench 0.1.1's names, defaults and field meanings.

``make("diff_ks", num_points=64)`` gives a frozen :class:`Scenario`: its emutrain reference and coarse
steppers, its initial-condition distribution (``ic_config``), its train/test trajectories
``(S, T+1, *spatial, C)`` and its datasets on disk (generated once, keyed by a hash of every field that
changes the data). ``names()`` lists the supported names; ``unsupported()`` the APEBench names emutrain
cannot step yet, with the reason. ``register(name, factory)`` adds a custom problem that ``make`` then
builds (``emutrain.scenarios.custom``; ``periodic_advection``, ``dirichlet_upwind_advection``,
``kolmogorov_closure`` and ``qg_closure`` are registered).
"""

from emutrain.scenarios import advection_problems, closure_problems, custom, ic
from emutrain.scenarios._dataset import data_key, dataset, load_dataset, share_nbytes
from emutrain.scenarios._physics import Unsupported
from emutrain.scenarios._scenario import (
    TRAINING_FIELDS,
    Scenario,
    make,
    names,
    parse_optim_config,
    unsupported,
)
from emutrain.scenarios.custom import CustomScenario, register, registered

__all__ = [
    "CustomScenario",
    "Scenario",
    "TRAINING_FIELDS",
    "Unsupported",
    "data_key",
    "advection_problems",
    "closure_problems",
    "custom",
    "dataset",
    "ic",
    "load_dataset",
    "make",
    "names",
    "parse_optim_config",
    "register",
    "registered",
    "share_nbytes",
    "unsupported",
]
