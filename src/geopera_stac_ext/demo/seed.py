"""`serve --demo`: a demo organization, project, collection and a few items, and its one key."""

from __future__ import annotations

import os
import uuid
from typing import Any

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.auth.guard import Principal
from geopera_stac_ext.auth.keys import hash_key
from geopera_stac_ext.demo.imagery import demo_assets, demo_properties
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import load_all
from geopera_stac_ext.storage.hrefs import project_area

DEMO_EMAIL = "demo@geopera.local"
DEMO_KEY_FILE = "demo-key"
# NOTE: each demo item is a FOOTPRINT_DEG square from (lon, lat); its COG covers exactly that.
FOOTPRINT_DEG = 0.02
DEMO_ITEMS = [
    ("Field 12 — 2026-05-18", 149.10, -35.30, "2026-05-18T01:20:00Z", 4.1, 0.5),
    ("Field 13 — 2026-05-18", 149.14, -35.28, "2026-05-18T01:21:00Z", 12.5, 0.5),
    ("Lake run — 2026-05-20", 149.08, -35.31, "2026-05-20T23:55:00Z", 0.0, 0.3),
    ("Ridge strip — 2026-06-02", 149.20, -35.20, "2026-06-02T02:10:00Z", 35.0, 1.0),
]


async def run_op(conn: Any, settings: Any, principal: Principal, op_id: str, **params: Any
                 ) -> Any:
    """Run a registered op in-process (its own transaction), as the given principal."""
    operation = load_all()[op_id]
    ctx = OpContext(request=None, conn=conn, principal=principal, op_id=op_id,
                    request_id=f"demo-{uuid.uuid4().hex[:8]}", settings=settings)
    async with conn.transaction():
        return await operation.handler(ctx, operation.params.model_validate(params))


async def seed_demo(conn: Any, settings: Any) -> dict[str, Any]:
    async with conn.transaction():
        user_id, project_id, first_key = await _seed(conn, settings)
        if first_key is not None:
            _save(settings, first_key)
            key, note = first_key, f"demo: new API key (saved in {settings.home / DEMO_KEY_FILE})"
        else:
            key, note = await _demo_key(conn, settings, user_id)
    return {"api_key": key, "project_id": project_id, "user_id": user_id,
            "api_key_reused": note.startswith("demo: reusing"), "key_note": note}


async def _demo_key(conn: Any, settings: Any, user_id: str) -> tuple[str, str]:
    """The key saved in GEOPERA_HOME/demo-key while it is valid; else a new one, revoking
    the demo user's older keys (one live demo key, whatever the number of restarts)."""
    saved = settings.home / DEMO_KEY_FILE
    if saved.is_file():
        raw = saved.read_text().strip()
        live = await conn.fetchval(
            "SELECT 1 FROM geopera.api_keys WHERE key_hash = $1 AND user_id = $2"
            " AND revoked_at IS NULL", hash_key(raw), user_id)
        if live:
            return raw, f"demo: reusing the API key saved in {saved}"
    revoked = await conn.fetchval(
        "WITH r AS (UPDATE geopera.api_keys SET revoked_at = now() WHERE user_id = $1"
        " AND revoked_at IS NULL RETURNING 1) SELECT count(*) FROM r", user_id)
    key = (await tenancy.create_key(conn, user_id))["api_key"]
    _save(settings, key)
    return key, (f"demo: new API key (saved in {saved}); revoked {revoked} previous demo key(s)")


def _save(settings: Any, key: str) -> None:
    saved = settings.home / DEMO_KEY_FILE
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.unlink(missing_ok=True)
    # NOTE: a secret: the file is created 0600 before the key is written into it.
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")


async def _seed(conn: Any, settings: Any) -> tuple[str, str, str | None]:
    """(demo user id, demo project id, the new key when the demo data was created now)."""
    user_id = await conn.fetchval("SELECT id FROM geopera.users WHERE email = $1", DEMO_EMAIL)
    if user_id is not None:
        project_id = await conn.fetchval(
            "SELECT p.id FROM geopera.projects p JOIN geopera.memberships m ON m.org_id = p.org_id"
            " WHERE m.user_id = $1 ORDER BY p.created_at LIMIT 1", user_id)
        return str(user_id), str(project_id), None
    org = await tenancy.create_org(conn, "Demo organization", "free")
    project = await tenancy.create_project(conn, "Demo project", org["id"])
    user = await tenancy.create_user(conn, DEMO_EMAIL)
    await tenancy.grant(conn, user["id"], "owner", org_id=org["id"])
    user_id, project_id = user["id"], project["id"]
    key = await tenancy.create_key(conn, user_id)
    principal = Principal(user_id=user_id, key_id=key["id"], scopes=frozenset(key["scopes"]))
    collection = await run_op(conn, settings, principal, "collections.create",
                              project_id=project_id, name="Demo survey", color="#2e7d32",
                              show_on_map=True, layer_order=10)
    # NOTE: local files live in the project's storage area; hrefs are relative to it.
    storage = project_area(settings.resolved_storage_dir, project_id) / "demo"
    for i, (name, lon, lat, when, cloud, gsd) in enumerate(DEMO_ITEMS):
        await run_op(
            conn, settings, principal, "items.create", project_id=project_id,
            # NOTE: the first two start in the collection; the rest are uncollected, so the
            # guide's "organize a delivery" example has something to organize.
            collection_id=collection["id"] if i < 2 else None,
            name=name, type="image", datetime=when, cloud_cover=cloud, gsd=gsd,
            geometry={"type": "Polygon", "coordinates": [[
                [lon, lat], [lon + FOOTPRINT_DEG, lat],
                [lon + FOOTPRINT_DEG, lat + FOOTPRINT_DEG], [lon, lat + FOOTPRINT_DEG],
                [lon, lat]]]},
            # NOTE: a real COG + PNG thumbnail covering exactly this footprint.
            assets=demo_assets(storage, "demo", i),
            properties=demo_properties(lon, lat, FOOTPRINT_DEG),
        )
    return user_id, project_id, key["api_key"]
