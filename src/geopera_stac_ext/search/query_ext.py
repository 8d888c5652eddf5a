"""The STAC query extension ({"prop": {"op": value}}) as CQL2 JSON clauses."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest

QUERY_OPS = ("eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in")
QUERY_TO_CQL2 = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def query_to_cql2(query: Any) -> list[dict[str, Any]]:
    """STAC query extension {"prop": {"op": value}} → CQL2 JSON clauses (ANDed by the caller)."""
    if not isinstance(query, dict):
        raise InvalidRequest('query: expected an object like {"cloud_cover": {"lt": 10}}')
    out: list[dict[str, Any]] = []
    for prop, ops in query.items():
        if not isinstance(ops, dict) or not ops:
            raise InvalidRequest(f"query: `{prop}` needs an object of operators, e.g. "
                                 '{"lt": 10}')
        ref = {"property": prop}
        for qop, value in ops.items():
            if qop in QUERY_TO_CQL2:
                out.append({"op": QUERY_TO_CQL2[qop], "args": [ref, value]})
            elif qop in ("startsWith", "endsWith", "contains"):
                if not isinstance(value, str):
                    raise InvalidRequest(f"query: `{prop}.{qop}` needs a string")
                esc = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{esc}%", "endsWith": f"%{esc}",
                           "contains": f"%{esc}%"}[qop]
                out.append({"op": "like", "args": [ref, pattern]})
            elif qop == "in":
                if not isinstance(value, list):
                    raise InvalidRequest(f"query: `{prop}.in` needs a list")
                out.append({"op": "in", "args": [ref, value]})
            else:
                raise InvalidRequest(f"query: unknown operator `{qop}` on `{prop}`; use one of "
                                     f"{', '.join(QUERY_OPS)}")
    return out
