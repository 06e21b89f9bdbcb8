"""``columns`` directive: a table of column names and descriptions taken from the code.

    ```{columns} bids_lrp.regions:COLUMN_DESCRIPTIONS
    ```

The argument names a mapping (column -> description) or a function that returns one for the
column names given as the directive's content, one per line. The documentation then says what
the outputs' sidecars say, from the same source.
"""

from __future__ import annotations

import importlib

from docutils import nodes
from docutils.parsers.rst import Directive


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class Columns(Directive):
    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        source = _load(self.arguments[0])
        names = [line.strip() for line in self.content if line.strip()]
        described = source(names) if callable(source) else dict(source)
        if names:
            described = {n: described[n] for n in names if n in described}
        table = nodes.table()
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=1)
        group += nodes.colspec(colwidth=3)
        head = nodes.thead()
        group += head
        head += self._row("column", "description", header=True)
        body = nodes.tbody()
        group += body
        for name, text in described.items():
            body += self._row(name, str(text))
        return [table]

    @staticmethod
    def _row(name: str, text: str, header: bool = False) -> nodes.row:
        row = nodes.row()
        for i, value in enumerate((name, text)):
            paragraph = nodes.paragraph()
            paragraph += nodes.literal(text=value) if i == 0 and not header else nodes.Text(value)
            entry = nodes.entry()
            entry += paragraph
            row += entry
        return row


def setup(app):
    app.add_directive("columns", Columns)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
