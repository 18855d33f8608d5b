"""Griffe extension for the API reference: the reStructuredText in docstrings renders as Markdown.

emutrain's docstrings name other objects with Sphinx roles (``:class:`Scenario```), introduce literal
blocks with ``::`` and lay out a few tables as reStructuredText simple tables. Markdown would show the
roles, the double colons and the table borders as text, so the roles become inline code, ``::`` a
colon before the (already indented) code block, and simple tables Markdown tables.
"""

import re

import griffe

ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`~?([^`]+)`")
LITERAL = re.compile(r"(?<=\S)::\n\n")
BORDER = re.compile(r"^ *=+( +=+)+ *$")


def strip_roles(text: str) -> str:
    """``:class:`~a.B``` -> ```a.B```, ``text::`` before a blank line -> ``text:``."""
    return LITERAL.sub(":\n\n", ROLE.sub(r"`\1`", text))


def _columns(border: str) -> list[tuple[int, int]]:
    return [match.span() for match in re.finditer(r"=+", border)]


def _cells(line: str, columns: list[tuple[int, int]]) -> list[str]:
    starts = [start for start, _ in columns] + [None]
    return [line[starts[i] : starts[i + 1]].strip() for i in range(len(columns))]


def _markdown_table(rows: list[list[str]], header: list[str] | None) -> list[str]:
    header = header or [""] * len(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def simple_tables_to_markdown(text: str) -> str:
    """reStructuredText simple tables (``====  ====`` borders, an optional one-line header, continuation
    lines whose first cell is empty) -> Markdown tables; everything else is left as it is."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        columns, end = _columns(lines[i]), i + 1
        while end < len(lines) and not BORDER.match(lines[end]):
            end += 1
        body, after = lines[i + 1 : end], end + 1
        header = None
        closing = next((j for j in range(after, len(lines)) if BORDER.match(lines[j])), None)
        if len(body) == 1 and closing is not None:  # a one-line header between the first two borders
            header, body, after = _cells(body[0], columns), lines[after:closing], closing + 1
        rows: list[list[str]] = []
        for line in body:
            cells = _cells(line, columns)
            if rows and not cells[0]:
                rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
            elif line.strip():
                rows.append(cells)
        out.extend(_markdown_table(rows, header))
        i = after
    return "\n".join(out)


class RstRoles(griffe.Extension):
    """Rewrites every loaded object's docstring with `strip_roles` and `simple_tables_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = simple_tables_to_markdown(strip_roles(obj.docstring.value))
