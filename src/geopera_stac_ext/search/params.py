"""Search parameters one by one: bbox, datetime, sortby, filter, lists; each bad value is a 400."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import finite_number
from geopera_stac_ext.core.jsonsafe import unsafe_json
from geopera_stac_ext.search.cql2text import parse_cql2_text
from geopera_stac_ext.search.fields import SORTABLE


def parse_instant(value: Any, what: str) -> datetime:
    """An RFC 3339 timestamp (or a full date) as an aware UTC datetime; 400 otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what}: expected an RFC 3339 timestamp string, got {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{what}: {value!r} is not an RFC 3339 timestamp (e.g. 2026-05-18T10:30:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise InvalidRequest(f"{what}: {value!r} is outside years 1-9999 in UTC") from None


def parse_bbox(value: Any, what: str = "bbox") -> list[float]:
    """[west, south, east, north]; west > east crosses the antimeridian and is allowed."""
    if isinstance(value, str):
        try:
            value = [float(x) for x in value.split(",")]
        except ValueError:
            raise InvalidRequest(f"{what}: expected four comma-separated numbers") from None
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(finite_number(x) for x in value)):
        n = len(value) if isinstance(value, (list, tuple)) else "no"
        raise InvalidRequest(f"{what}: expected exactly four numbers [west, south, east, north], "
                             f"got {n} values")
    w, s, e, n = (float(x) for x in value)
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidRequest(f"{what}: latitudes must be within [-90, 90]")
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise InvalidRequest(f"{what}: longitudes must be within [-180, 180]")
    if s > n:
        raise InvalidRequest(f"{what}: south ({s}) must not be greater than north ({n})")
    return [w, s, e, n]


def parse_datetime(value: Any) -> tuple[datetime | None, datetime | None]:
    """An instant, a closed range `a/b`, or an open range with `..` (or an empty end)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("datetime: expected an RFC 3339 instant or an interval `start/end`")
    parts = value.strip().split("/")
    if len(parts) == 1:
        t = parse_instant(parts[0], "datetime")
        return t, t
    if len(parts) != 2:
        raise InvalidRequest(f"datetime: {value!r} has more than one `/`")
    ends = [None if p in ("..", "") else parse_instant(p, "datetime") for p in parts]
    if ends[0] is None and ends[1] is None:
        raise InvalidRequest("datetime: at least one end of the interval must be given")
    if ends[0] and ends[1] and ends[0] > ends[1]:
        raise InvalidRequest(f"datetime: the start of {value!r} is after its end")
    return ends[0], ends[1]


def parse_sortby(value: Any) -> list[dict[str, str]]:
    """[{field, direction}] (or STAC GET style "+a,-b"); unknown fields are rejected."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise InvalidRequest("sortby: expected a list of {field, direction}")
    return [_sort_entry(entry) for entry in value]


def _sort_entry(entry: Any) -> dict[str, str]:
    if isinstance(entry, str):
        entry = entry.strip()
        direction = "desc" if entry.startswith("-") else "asc"
        entry = {"field": entry.lstrip("+-").strip(), "direction": direction}
    if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
        raise InvalidRequest("sortby: each entry needs a `field` string")
    name = entry["field"]
    name = name[len("properties."):] if name.startswith("properties.") else name
    direction = str(entry.get("direction", "asc")).lower()
    if name not in SORTABLE:
        raise InvalidRequest(f"sortby: unknown sort field `{name[:100]}`; sortable fields: "
                             f"{', '.join(sorted(SORTABLE))}")
    if direction not in ("asc", "desc"):
        raise InvalidRequest(f"sortby: direction of `{name}` must be asc or desc")
    return {"field": name, "direction": direction}


def parse_filter(value: Any, lang: str | None) -> Any:
    """A CQL2 filter (text or JSON) as CQL2 JSON."""
    if value is None:
        return None
    lang = (lang or ("cql2-text" if isinstance(value, str) else "cql2-json")).lower()
    if lang == "cql2-text":
        if not isinstance(value, str):
            raise InvalidRequest("filter: with filter-lang cql2-text the filter must be a string")
        return parse_cql2_text(value)
    if lang != "cql2-json":
        raise InvalidRequest(f"filter-lang: {lang!r} is not supported; use cql2-json or cql2-text")
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidRequest("filter: malformed CQL2 JSON (not valid JSON)") from None
    if not isinstance(value, dict):
        raise InvalidRequest("filter: malformed CQL2 JSON (expected an object with op and args)")
    return value


def storable(value: Any, what: str) -> Any:
    """NOTE: literals SQL cannot bind (400-digit integers, NaN, lone surrogates) are a 400."""
    if (problem := unsafe_json(value, what)) is not None:
        raise InvalidRequest(problem)
    return value


def str_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{what}: expected a list of strings")
    if len(value) > 1000:
        raise InvalidRequest(f"{what}: at most 1000 values")
    return list(value)
