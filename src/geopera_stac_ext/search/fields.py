"""Searchable and sortable fields: the SQL each name reads and the relation it lives in."""

from __future__ import annotations

from typing import NamedTuple

# The two relations a search reads, by the aliases every search statement gives them.
STAC = "p"  # pgstac.items: STAC content, footprint, datetimes, id
PLATFORM = "i"  # geopera.items: project, collection link, type, lifecycle, platform dates
RELATION_TABLES = {STAC: "pgstac.items", PLATFORM: "geopera.items"}

# Item record names → their STAC property names (record.py's MAPPED_PROPERTIES, plus eo:).
RECORD_TO_STAC = {"name": "title", "cloud_cover": "eo:cloud_cover"}


class Column(NamedTuple):
    """A field stored in a real column (or a fixed JSON path): its SQL, kind and relation."""

    sql: str
    kind: str  # text | timestamp | geometry | json
    relation: str


def _stac(sql: str, kind: str) -> Column:
    return Column(sql, kind, STAC)


def _platform(sql: str, kind: str) -> Column:
    return Column(sql, kind, PLATFORM)


# NOTE: platform state lives in geopera.items (i), STAC columns in pgstac.items (p). The
# `geopera:*`, `created` and `updated` names are what stac_feature() shows STAC clients.
# Fields that filter and sort alike (the same SQL either way), each under every name it has.
_DATETIMES: dict[str, Column] = {
    "datetime": _stac("p.datetime", "timestamp"),
    "start_datetime": _stac("p.datetime", "timestamp"),
    "end_datetime": _stac("p.end_datetime", "timestamp"),
}
_PLATFORM_STATE: dict[str, Column] = {
    name: column
    for names, column in (
        (("type", "geopera:type"), _platform("i.type", "text")),
        (("lifecycle_state", "geopera:lifecycle_state"), _platform("i.lifecycle_state", "text")),
        (("created_at", "created"), _platform("i.created_at", "timestamp")),
        (("updated_at", "updated"), _platform("i.updated_at", "timestamp")),
        (("expires_at", "geopera:expires_at"), _platform("i.expires_at", "timestamp")),
    )
    for name in names
}

COLUMNS: dict[str, Column] = {
    "id": _stac("p.id", "text"),
    "collection": _platform("i.collection_id::text", "text"),
    "collection_id": _platform("i.collection_id::text", "text"),
    "project_id": _platform("i.project_id::text", "text"),
    "geopera:project_id": _platform("i.project_id::text", "text"),
    **_PLATFORM_STATE,
    **_DATETIMES,
    "geometry": _stac("p.geometry", "geometry"),
}

# Sortable fields → SQL. JSON-content fields sort as jsonb (numbers numerically).
SORTABLE: dict[str, Column] = {
    **_DATETIMES,
    "id": _stac("p.id", "text"),
    "collection": _platform("i.collection_id", "uuid"),
    "collection_id": _platform("i.collection_id", "uuid"),
    "project_id": _platform("i.project_id", "uuid"),
    **_PLATFORM_STATE,
    "cloud_cover": _stac("(p.content->'properties'->'eo:cloud_cover')", "json"),
    "eo:cloud_cover": _stac("(p.content->'properties'->'eo:cloud_cover')", "json"),
    "gsd": _stac("(p.content->'properties'->'gsd')", "json"),
    "name": _stac("(p.content->'properties'->'title')", "json"),
    "title": _stac("(p.content->'properties'->'title')", "json"),
}
DEFAULT_SORT = [{"field": "datetime", "direction": "desc"}]

# NOTE: content properties with a declared type (the ones /queryables advertises with a type)
# are read as that type whatever the literal, as pgstac reads a registered queryable: a numeric
# string such as pystac-client's query `eo:cloud_cover<10` ("10") compares as the number 10.
TYPED_PROPERTIES = {"eo:cloud_cover": "num", "gsd": "num", "title": "text",
                    "description": "text"}
assert not any("'" in k for k in TYPED_PROPERTIES)  # NOTE: written into SQL (cql2sql.prop)


def stac_name(name: str) -> str:
    """A record name (cloud_cover, name) as the STAC property it is stored under."""
    return RECORD_TO_STAC.get(name, name)
