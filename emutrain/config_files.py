"""The shipped config files by name: `load_config("default", "quick")` is `get_config("quick")` of the
module `emutrain.configs.default`.

An installed package maps `emutrain.configs` to the repository's `configs/` folder (setuptools'
package-dir); in a source checkout the same folder is imported as that package on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["PACKAGE", "config_module", "config_names", "load_config", "run_variant"]

PACKAGE = "emutrain.configs"


def _package() -> ModuleType:
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    if importlib.util.find_spec(PACKAGE) is not None:
        return importlib.import_module(PACKAGE)
    # a source checkout: configs/ beside emutrain/ is the package that an installation maps
    folder = Path(__file__).resolve().parents[1] / "configs"
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def config_names() -> list[str]:
    """Every shipped config, e.g. `["configuration_showcase", ..., "studies/apebench_1d"]`."""
    prefix = PACKAGE + "."
    infos = pkgutil.walk_packages(_package().__path__, prefix)
    return sorted(info.name[len(prefix):].replace(".", "/") for info in infos if not info.ispkg)


def load_config(name: str, variant: str | None = None) -> Any:
    """`get_config(variant)` of the shipped config `name` (`"default"`, `"studies/apebench_1d"`, ...).

    Raises:
      ValueError: no config of that name (the message lists the available ones).
    """
    return config_module(name).get_config(variant)


def config_module(name: str) -> ModuleType:
    """The module `emutrain.configs.<name>` of a shipped config (its constants besides `get_config`).

    Raises:
      ValueError: no config of that name (the message lists the available ones).
    """
    names = config_names()
    if name not in names:
        raise ValueError(f"name must be one of {names}, got {name!r}")
    return importlib.import_module(f"{PACKAGE}.{name.replace('/', '.')}")


def run_variant(
    variant: str | None, choices: Sequence[str], *, default: str, noun: str = "run"
) -> tuple[str, bool]:
    """A config variant `"<run>"`, `"<run>,quick"` or `"quick"` read as `(run, quick)`; no run given:
    `default`.

    Raises:
      ValueError: more than one run, or a run not in `choices`.
    """
    tokens = [token.strip() for token in (variant or "").split(",") if token.strip()]
    runs = [token for token in tokens if token != "quick"]
    if len(runs) > 1 or (runs and runs[0] not in choices):
        raise ValueError(
            f"variant must be '<{noun}>' or '<{noun}>,quick' with <{noun}> in {choices}, got {variant!r}"
        )
    return (runs[0] if runs else default), "quick" in tokens
