"""Every public symbol has a docstring: the API reference of the documentation site is built from them."""

import importlib
import inspect

import pytest

PACKAGES = (
    "emutrain.physics",
    "emutrain.data",
    "emutrain.nn",
    "emutrain.losses",
    "emutrain.configurations",
    "emutrain.scenarios",
    "emutrain.evaluate",
    "emutrain.viz",
    "emutrain.train",
    "emutrain.study",
    "emutrain.optimizers",
    "emutrain.schema",
    "emutrain.config_files",
    "emutrain.public_datasets",
    "emutrain.experiment",
    "emutrain.cli",
)


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", "")
                 .startswith(module.__name__)]
    return list(names)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_symbol_has_a_docstring(package):
    module = importlib.import_module(package)
    assert inspect.getdoc(module), f"{package} has no module docstring"
    missing = []
    for name in _public(module):
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            doc = (vars(value).get("__doc__") if inspect.isclass(value) else value.__doc__) or ""
            # a dataclass without a docstring gets its signature, "Name(field: type, ...)", as one
            if not doc.strip() or doc.startswith(f"{value.__name__}("):
                missing.append(name)
    assert not missing, f"{package}: public symbols without a docstring: {missing}"
