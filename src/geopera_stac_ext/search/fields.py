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


def num_of(j: str) -> str:
    """A JSON value as a number, NULL when it is not one (a declared numeric property)."""
    return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::float8 END)"


def text_of(j: str) -> str:
    """A JSON value as text, NULL when it is not a string (a declared text property)."""
    return f"(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)"


# NOTE: eo:cloud_cover as a number, written exactly as the filter writes it (cql2sql.prop) and
# as migration 0140 indexes it together with the id tie-break on every pgstac partition.
CLOUD_COVER = num_of("(p.content->'properties'->'eo:cloud_cover')")
# gsd as a number and title as text, the same way (migration 0155 indexes both with the id).
GSD = num_of("(p.content->'properties'->'gsd')")
TITLE = text_of("(p.content->'properties'->'title')")


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

# Sortable fields → SQL. Declared content properties sort as their declared type
# (eo:cloud_cover and gsd as numbers, title as text; a value of another type sorts with the
# missing ones, last): the expressions their indexes deliver in order (0140, 0155).
SORTABLE: dict[str, Column] = {
    **_DATETIMES,
    "id": _stac("p.id", "text"),
    "collection": _platform("i.collection_id", "uuid"),
    "collection_id": _platform("i.collection_id", "uuid"),
    "project_id": _platform("i.project_id", "uuid"),
    **_PLATFORM_STATE,
    "cloud_cover": _stac(CLOUD_COVER, "num"),
    "eo:cloud_cover": _stac(CLOUD_COVER, "num"),
    "gsd": _stac(GSD, "num"),
    "name": _stac(TITLE, "text"),
    "title": _stac(TITLE, "text"),
}
DEFAULT_SORT = [{"field": "datetime", "direction": "desc"}]
# Nullable sort keys an index of every pgstac partition delivers in order with the id tie-break
# after them (migrations 0140, 0155), and the type a keyset token binds their value as.
INDEXED_NULLABLE_SORT = {CLOUD_COVER: "float8", GSD: "float8", TITLE: "text"}

# NOTE: content properties with a declared type (the ones /queryables advertises with a type)
# are read as that type whatever the literal, as pgstac reads a registered queryable: a numeric
# string such as pystac-client's query `eo:cloud_cover<10` ("10") compares as the number 10.
TYPED_PROPERTIES = {"eo:cloud_cover": "num", "gsd": "num", "title": "text",
                    "description": "text"}
assert not any("'" in k for k in TYPED_PROPERTIES)  # NOTE: written into SQL (cql2sql.prop)


# Declared properties the platform row keeps a copy of (migration 0150; written by every path
# that writes the content: domain/items.cloud_cover_of, the loader), for exact counts.
PLATFORM_COPIES = {"eo:cloud_cover": "i.cloud_cover"}


def stac_name(name: str) -> str:
    """A record name (cloud_cover, name) as the STAC property it is stored under."""
    return RECORD_TO_STAC.get(name, name)
