"""Keyset paging for the STAC API: signed tokens that carry the sort key of a page's last item."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.search.fields import INDEXED_NULLABLE_SORT

TOKEN_VERSION = "k1"
# Sort columns keyset paging can resume after, with the type their values are bound as.
# NOTE: nullable keys (JSON properties, collection, expiry) sort NULLS LAST, which a row
# comparison cannot express cheaply; a page of such an order resumes by position instead,
# except an indexed nullable key alone before the id (INDEXED_NULLABLE_SORT): the engine reads
# its values and its NULLs as two index ranges, each resumed on its own (nullable_after).
KEYSET_TYPES = {
    "p.datetime": "timestamptz", "p.end_datetime": "timestamptz", "p.id": "text",
    "i.id::text": "text",
    "i.project_id": "uuid", "i.type": "text", "i.lifecycle_state": "text",
    "i.created_at": "timestamptz", "i.updated_at": "timestamptz",
}
BAD_TOKEN = ("token: not a paging token of this API for this search and caller "
             "(follow the `next` link)")


def keyset_ok(keys: list[Any]) -> bool:
    """Whether every key of the order ([SortKey]) can be resumed after by value."""
    if len(keys) == 2 and keys[0].sql in INDEXED_NULLABLE_SORT and keys[1].sql == "p.id":
        return True
    return all(k.sql in KEYSET_TYPES for k in keys)


def nullable_after(keys: list[Any], values: list[Any], sql: Query) -> tuple[str, str]:
    """Rows strictly after `values` in the order [nullable key NULLS LAST, p.id] ([SortKey]):
    (the clause on rows whose key is not NULL, the clause on rows whose key is NULL)."""
    if len(values) != 2 or len(keys) != 2 or not isinstance(values[1], str):
        raise InvalidRequest(BAD_TOKEN)
    key, tie = keys
    after = "<" if key.direction == "DESC" else ">"
    last_id = sql.bind(values[1], "::text", name="after1")
    if values[0] is None:
        # NOTE: the last row had no value: every valued row came before it.
        return "FALSE", f"p.id {after} {last_id}"
    kind = INDEXED_NULLABLE_SORT[key.sql]
    if not isinstance(values[0], str):
        raise InvalidRequest(BAD_TOKEN)
    value: Any = values[0]
    if kind == "float8":
        try:
            value = float(values[0])
        except ValueError:
            raise InvalidRequest(BAD_TOKEN) from None
        if value != value or value in (float("inf"), -float("inf")):
            raise InvalidRequest(BAD_TOKEN)
    v = sql.bind(value, f"::{kind}", name="after0")
    # NOTE: the leading inequality alone lets the index start at the value.
    return (f"({key.sql} {after}= {v} AND ({key.sql} {after} {v} OR "
            f"({key.sql} = {v} AND {tie.sql} {after} {last_id})))", "TRUE")


def keyset_clause(keys: list[Any], values: list[Any], sql: Query) -> str:
    """Rows strictly after `values` in the order `keys` ([SortKey])."""
    if len(values) != len(keys):
        raise InvalidRequest(BAD_TOKEN)
    binds = []
    for n, (k, v) in enumerate(zip(keys, values)):
        kind = KEYSET_TYPES[k.sql]
        if kind == "timestamptz":
            try:
                v = datetime.fromisoformat(v)
            except (TypeError, ValueError):
                raise InvalidRequest(BAD_TOKEN) from None
        elif not isinstance(v, str):
            raise InvalidRequest(BAD_TOKEN)
        binds.append(sql.bind(v, f"::{kind}", name=f"after{n}"))
    ors = []
    for n, k in enumerate(keys):
        eqs = [f"{e.sql} = {b}" for e, b in zip(keys[:n], binds[:n])]
        ors.append("(" + " AND ".join(
            [*eqs, f"{k.sql} {'<' if k.direction == 'DESC' else '>'} {binds[n]}"]) + ")")
    # NOTE: the leading inequality alone lets an index on the first key start at the value.
    first = keys[0]
    lead = f"{first.sql} {'<=' if first.direction == 'DESC' else '>='} {binds[0]}"
    return f"({lead} AND ({' OR '.join(ors)}))"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> str:
    return _b64(hmac.new(secret, b"geopera-page\0" + payload, hashlib.sha256).digest())


def make_token(secret: bytes, *, position: int, key: list[Any] | None, caller: str,
               query: str) -> str:
    """A token for the page that starts after `key` (or at `position` when key is None).

    NOTE: signed with the service's secret and bound to the caller and to the search (a digest
    of its parameters): a token cannot be forged, edited, replayed by another principal or
    reused with another filter (each would page through a different set)."""
    body = {"o": position, "u": caller, "q": query}
    if key is not None:
        body["k"] = [None if v is None else v.isoformat() if isinstance(v, datetime)
                     else str(v) for v in key]
    payload = orjson.dumps(body)
    return f"{TOKEN_VERSION}.{_b64(payload)}.{_mac(secret, payload)}"


def read_token(secret: bytes, token: str, *, caller: str, query: str
               ) -> tuple[int, list[Any] | None]:
    """(position, key) of a token this service issued to this caller for this search."""
    raw = token.split(":", 1)[1] if token.startswith("next:") else token
    parts = raw.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or len(raw) > 4096:
        raise InvalidRequest(BAD_TOKEN)
    try:
        payload = _unb64(parts[1])
    except ValueError:
        raise InvalidRequest(BAD_TOKEN) from None
    if not hmac.compare_digest(_mac(secret, payload), parts[2]):
        raise InvalidRequest(BAD_TOKEN)
    body = orjson.loads(payload)
    if body.get("u") != caller or body.get("q") != query:
        raise InvalidRequest(BAD_TOKEN)
    position, key = body.get("o"), body.get("k")
    if not isinstance(position, int) or position < 0:
        raise InvalidRequest(BAD_TOKEN)
    return position, key


def query_digest(req: Any, scope: str) -> str:
    """A digest of everything that selects and orders a search's rows (not limit/position)."""
    body = {
        "scope": scope, "bbox": req.bbox, "intersects": req.intersects,
        "datetime": [t.isoformat() if t else None for t in req.datetime] if req.datetime
        else None,
        "ids": req.ids, "collections": req.collections, "types": req.types,
        "filter": req.filter, "sortby": req.sortby,
    }
    return _b64(hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()[:18])
