"""Griffe extension for the API reference: Sphinx cross-reference roles in docstrings render as code.

emutrain's docstrings name other objects as ``:class:`Scenario```, ``:func:`make_loader``` and the like;
Markdown would show the role itself, so the role is dropped and the name kept as inline code.
"""

import re

import griffe

ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    """``:class:`~a.B``` -> ```a.B```, leaving all other text as it is."""
    return ROLE.sub(r"`\1`", text)


class RstRoles(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`strip_roles`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
