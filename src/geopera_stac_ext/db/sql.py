"""Statements assembled with named parameters, rendered to asyncpg's `$n`, with the relations they read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# NOTE: one pass over the text: a quoted literal ('eo:cloud_cover') is skipped whole and a
# cast (`::text`) never matches, so only a `:name` outside them is a placeholder.
_TOKENS = re.compile(r"'(?:[^']|'')*'|(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=512)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """(the text with `$n` for each `:name`, the names in `$n` order).

    NOTE: cached by text: a statement's text holds no values (they are all parameters), so
    the same search shape renders once (measured: the render was most of the assembly cost).
    """
    order: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return m.group(0)
        if name not in order:
            order[name] = len(order) + 1
        return f"${order[name]}"

    return _TOKENS.sub(number, sql), tuple(order)


@dataclass(frozen=True)
class Fragment:
    """A piece of SQL and the relations (table aliases) it reads."""

    sql: str
    relations: frozenset[str] = frozenset()

    def reads(self, relation: str) -> bool:
        return relation in self.relations


@dataclass
class Query:
    """Named parameters of one statement being assembled.

    `bind(value)` gives a placeholder `:name`; `render(sql)` numbers the placeholders the
    final text contains ($1, $2, … in order of first use) and returns the argument list. A
    value whose placeholder was dropped is not sent (PostgreSQL cannot type an unused
    parameter), and a name used twice is one parameter. Fragments record the relations they
    read (`relations`), so callers ask the builder, not the SQL text, what a clause touches.
    """

    values: dict[str, Any] = field(default_factory=dict)
    relations: set[str] = field(default_factory=set)

    def bind(self, value: Any, cast: str = "", *, name: str | None = None) -> str:
        """The placeholder for `value` (named `name`, or the next free `vN`), plus `cast`."""
        if name is None:
            name = f"v{len(self.values)}"
            while name in self.values:
                name += "_"
        elif name in self.values and self.values[name] is not value:
            raise ValueError(f"parameter :{name} is already bound to another value")
        self.values[name] = value
        return f":{name}{cast}"

    def touch(self, *relations: str) -> None:
        """Record that the statement reads these relations."""
        self.relations.update(relations)

    def render(self, sql: str) -> tuple[str, list[Any]]:
        """(SQL with `$n` placeholders, the arguments in that order) for asyncpg."""
        text, names = _numbered(sql)
        try:
            return text, [self.values[name] for name in names]
        except KeyError as e:
            raise KeyError(f"SQL names parameter :{e.args[0]}, which was never bound") from None
