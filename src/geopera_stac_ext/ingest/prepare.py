"""One input line through the loader: validated, given its collection, formatted for COPY."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.ingest.encode import (
    NULL, Prepared, asset_rows, encode_geometry, esc)
from geopera_stac_ext.ingest.plan import Batch, LoadPlan
from geopera_stac_ext.ingest.validate import (
    Checked, check_hrefs, check_params, collection_ref, feature_to_params, item_id_of, utc)
from geopera_stac_ext.core.fields import bbox_of, polygon_of
from geopera_stac_ext.pgstac import bulk
from geopera_stac_ext.domain.records import stac_content


def item_content(p: Checked, item_id: str, now: datetime) -> dict[str, Any]:
    """The STAC content items.create stores for the line (its pgstac collection left empty)."""
    geometry = p.geometry or polygon_of(p.bbox)  # type: ignore[arg-type]
    return stac_content(item_id, "", {
        "name": p.name, "description": p.description, "cloud_cover": p.cloud_cover,
        "gsd": p.gsd, "properties": p.properties, "geometry": geometry,
        "bbox": p.bbox or bbox_of(geometry), "datetime": p.datetime or now})


def time_range(p: Checked, content: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """(datetime, end_datetime) of the pgstac row, as instants."""
    props = content["properties"]
    low = high = p.datetime or now
    if props.get("start_datetime") is not None and props.get("end_datetime") is not None:
        low = utc(props["start_datetime"], "start_datetime")
        high = utc(props["end_datetime"], "end_datetime")
        if low > high:
            raise InvalidRequest("properties.start_datetime must not be after end_datetime")
    return low, high


# An RFC 3339 time with a zone and at most microseconds: Python's fromisoformat and
# PostgreSQL's timestamptz input read it as the same instant (more digits: Python truncates
# and PostgreSQL rounds; no zone: the session's time zone).
PLAIN_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[Zz]|[+-]\d\d:\d\d)")


def exact_times(content: dict[str, Any]) -> bool:
    """Whether time_range's instants are exactly what PostgreSQL reads from the row's texts.

    NOTE: `datetime` is always written from the parsed instant (stac_content); only a
    start/end pair is the line's own text."""
    props = content["properties"]
    sdt, edt = props.get("start_datetime"), props.get("end_datetime")
    if sdt is None or edt is None:
        return True
    return (type(sdt) is str and type(edt) is str and PLAIN_TIME.fullmatch(sdt) is not None
            and PLAIN_TIME.fullmatch(edt) is not None)


def checked_line(plan: LoadPlan, text: str | bytes) -> tuple[dict[str, Any], Checked]:
    """(the Feature, its items.create parameters checked), hrefs included."""
    try:
        feature = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"not valid JSON ({e})") from None
    p = check_params(feature_to_params(feature, plan.project_id))
    check_hrefs(p.assets, plan.settings.resolved_storage_dir, plan.project_id,
                plan.bucket_grants, plan.grant_prefixes)
    return feature, p


def prepare(plan: LoadPlan, lineno: int, text: str | bytes, batch: Batch) -> Prepared:
    """Validate and format one line; raises InvalidRequest with an actionable message."""
    feature, p = checked_line(plan, text)
    ref = collection_ref(feature)
    item_id = item_id_of(feature, p.properties)
    # NOTE: a repeat inside the batch is caught here; one in an earlier batch by the
    # database's primary key when the batch is written (write.py), so the load keeps no
    # set of every id of the file (memory flat in the file's size).
    if item_id in batch.ids:
        raise InvalidRequest(f"item id {item_id} appears twice in this file")
    content = item_content(p, item_id, batch.now)
    low, high = time_range(p, content, batch.now)
    geom, bounds = encode_geometry(content["geometry"])
    # Valid: from here on the line is loaded (its collection is planned).
    cid = plan.collection(ref, batch)
    pgcol = cid or plan.inbox
    base, base_id = plan.base(pgcol) or (None, None)
    dt, edt, doc, private = bulk.stac_row(content, base, base_id)
    stamp = batch.stamp
    asset_lines, ledger_lines = asset_rows(item_id, p.assets, stamp, plan.org, plan.project_id)
    return Prepared(
        lineno, item_id, cid, pgcol, low, high,
        f"\t{esc(dt)}\t{esc(edt)}\t{geom}\t{esc(doc)}\t{esc(private)}\n",
        f"\t{esc(p.type)}\t{stamp}\t{stamp}\t{batch.expiry}"
        # NOTE: starts_at/ends_at: the pgstac row's own datetime texts (migration 0154).
        f"\t{NULL if p.cloud_cover is None else repr(float(p.cloud_cover))}"
        f"\t{esc(dt)}\t{esc(edt)}\n",
        asset_lines, ledger_lines, bounds, exact_times(content))
