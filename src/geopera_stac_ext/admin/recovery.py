"""Server-side recovery of soft-deleted items, assets and collections (the guide's promise)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from geopera_stac_ext.core.errors import Conflict, Gone, InvalidRequest, NotFound
from geopera_stac_ext.pgstac import collections as pgstac_collections
from geopera_stac_ext.pgstac import items as pgstac_items
from geopera_stac_ext.domain.records import dumps
from geopera_stac_ext.storage.hrefs import AREA_SQL, local_path
from geopera_stac_ext.admin.tenancy import _uuid
from geopera_stac_ext.domain.records import stac_collection

ADMIN_REQUEST_ID = "admin-cli"


async def admin_audit(conn: Any, operation: str, *target_ids: Any) -> None:
    """One audit row for an operator command (no principal: it ran with database access)."""
    await conn.execute(
        "INSERT INTO geopera.audit_log (operation, target_ids, request_id) VALUES ($1, $2, $3)",
        operation, [str(t) for t in target_ids if t is not None], ADMIN_REQUEST_ID)


def missing_files(storage_dir: Any, assets: list[Any]) -> list[str]:
    """Keys of local assets whose file is gone. NOTE: remote (s3/gs/https) objects are not
    probed here: their store is the authority, and a download of a gone object fails there."""
    gone = []
    for a in assets:
        try:
            path = local_path(storage_dir, a["area"], a["href"])
        except InvalidRequest:
            gone.append(a["key"])  # now outside its project's storage area: not servable
            continue
        if path is not None and not path.is_file():
            gone.append(a["key"])
    return gone


async def credit_restored(conn: Any, asset_ids: list[Any], reason: str) -> int:
    """Re-credit storage for restored assets, once per stored file (the ledger's duplicate rule).

    A file (an asset and its duplicates, grouped by coalesce(origin_id, id)) is credited again
    only when the ledger nets it to zero, i.e. its last live copy's deletion debited it; the
    amount is its original credit, so a restore exactly undoes the debit. Returns rows written.
    """
    rows = await conn.fetch(
        "SELECT a.id, coalesce(a.origin_id, a.id) AS grp, i.id AS item_id, i.project_id,"
        " p.org_id FROM geopera.assets a JOIN geopera.items i ON i.id = a.item_id"
        " JOIN geopera.projects p ON p.id = i.project_id WHERE a.id = ANY($1::uuid[])",
        list(asset_ids))
    groups = sorted({r["grp"] for r in rows})
    if not groups:
        return 0
    # NOTE: the same lock order as domain.items.release_assets: restores and deletes of copies of
    # one file serialise, so the net read below is the truth when we write.
    await conn.execute(
        "SELECT 1 FROM geopera.assets WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", groups)
    credits = await conn.fetch(
        """
        WITH g AS (SELECT unnest($1::uuid[]) AS grp),
        l AS (SELECT g.grp, l.id, l.delta_bytes FROM g
              JOIN geopera.assets a ON a.id = g.grp OR a.origin_id = g.grp
              JOIN geopera.storage_ledger l ON l.asset_id = a.id)
        SELECT g.grp,
               (SELECT coalesce(sum(delta_bytes), 0) FROM l WHERE l.grp = g.grp) AS net,
               (SELECT delta_bytes FROM l WHERE l.grp = g.grp AND delta_bytes > 0
                ORDER BY l.id LIMIT 1) AS first_credit
        FROM g
        """, groups)
    by_group = {r["grp"]: r for r in rows}
    ledger = [(by_group[c["grp"]]["org_id"], by_group[c["grp"]]["project_id"],
               by_group[c["grp"]]["item_id"], by_group[c["grp"]]["id"], c["first_credit"], reason)
              for c in credits if c["net"] <= 0 and (c["first_credit"] or 0) > 0]
    if ledger:
        await conn.executemany(
            "INSERT INTO geopera.storage_ledger (org_id, project_id, item_id, asset_id,"
            " delta_bytes, reason) VALUES ($1, $2, $3, $4, $5, $6)", ledger)
    return len(ledger)


async def _state_to_restore(conn: Any, row: Any) -> str:
    """The lifecycle state the item had when deleted: recorded by items.delete, else the
    retention job's last event into `deleted` (from `expired`), else active."""
    if row["state_before_delete"]:
        return row["state_before_delete"]
    before = await conn.fetchval(
        "SELECT from_state FROM geopera.lifecycle_events WHERE item_id = $1 AND to_state ="
        " 'deleted' ORDER BY at DESC, id DESC LIMIT 1", row["id"])
    return before or "active"


async def restore_item(conn: Any, settings: Any, item_id: str,
                       now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    iid = _uuid(item_id, "item")
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT i.* FROM geopera.items i WHERE i.id = $1 FOR UPDATE", iid)
        if row is None:
            raise NotFound(f"item {item_id} not found")
        if row["deleted_at"] is None:
            raise Conflict(f"item {item_id} is not deleted (state {row['lifecycle_state']})")
        if not await pgstac_items.item_exists(conn, str(iid), row["pgstac_collection"]):
            raise Gone(f"item {item_id} cannot be restored: its STAC record is gone")
        # NOTE: only the assets that went with the item (same deletion instant); an asset
        # deleted on its own earlier stays deleted (restore it with restore-asset).
        assets = await conn.fetch(
            f"SELECT a.id, a.key, a.href, {AREA_SQL} WHERE a.item_id = $1 AND a.deleted_at = $2",
            iid, row["deleted_at"])
        if gone := missing_files(settings.resolved_storage_dir, assets):
            raise Gone(f"item {item_id} cannot be restored: the files of asset(s) "
                       f"{', '.join(sorted(gone))} are gone from storage")
        state = await _state_to_restore(conn, row)
        expires_at = row["expires_at"]
        if state == "expired" and expires_at is None:
            # NOTE: retention had deleted it: it comes back expired, with a fresh grace period
            # before the job deletes it again (an upgrade re-activates it meanwhile).
            expires_at = now + timedelta(days=settings.expired_grace_days)
        await conn.execute(
            "UPDATE geopera.items SET deleted_at = NULL, lifecycle_state = $2,"
            " state_before_delete = NULL, expires_at = $3, updated_at = $4 WHERE id = $1",
            iid, state, expires_at, now)
        await conn.execute("UPDATE geopera.assets SET deleted_at = NULL WHERE id = ANY($1::uuid[])",
                           [a["id"] for a in assets])
        credited = await credit_restored(conn, [a["id"] for a in assets], "item_restored")
        await conn.execute(
            "INSERT INTO geopera.lifecycle_events (at, item_id, from_state, to_state, reason)"
            " VALUES ($1, $2, 'deleted', $3, 'admin:restore')", now, iid, state)
        await admin_audit(conn, "admin.restore-item", iid, row["project_id"])
    return {"id": item_id, "restored": True, "lifecycle_state": state,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "assets_restored": len(assets), "ledger_credits": credited}


async def restore_asset(conn: Any, settings: Any, asset_id: str) -> dict[str, Any]:
    aid = _uuid(asset_id, "asset")
    async with conn.transaction():
        asset = await conn.fetchrow("SELECT * FROM geopera.assets WHERE id = $1", aid)
        if asset is None:
            raise NotFound(f"asset {asset_id} not found")
        item = await conn.fetchrow(
            "SELECT id, project_id, deleted_at FROM geopera.items WHERE id = $1 FOR UPDATE",
            asset["item_id"])
        if item["deleted_at"] is not None:
            raise Conflict(f"asset {asset_id} belongs to deleted item {item['id']}; "
                           "restore the item (restore-item) instead")
        asset = await conn.fetchrow(f"SELECT a.*, {AREA_SQL} WHERE a.id = $1", aid)
        if asset["deleted_at"] is None:
            raise Conflict(f"asset {asset_id} is not deleted")
        if await conn.fetchval("SELECT 1 FROM geopera.assets WHERE item_id = $1 AND key = $2"
                               " AND deleted_at IS NULL", item["id"], asset["key"]):
            raise Conflict(f"item {item['id']} already has a live `{asset['key']}` asset")
        if missing_files(settings.resolved_storage_dir, [asset]):
            raise Gone(f"asset {asset_id} cannot be restored: its file is gone from storage")
        await conn.execute("UPDATE geopera.assets SET deleted_at = NULL WHERE id = $1", aid)
        await conn.execute("UPDATE geopera.items SET updated_at = now() WHERE id = $1",
                           item["id"])
        credited = await credit_restored(conn, [aid], "asset_restored")
        await admin_audit(conn, "admin.restore-asset", aid, item["id"], item["project_id"])
    return {"id": asset_id, "item_id": str(item["id"]), "restored": True,
            "ledger_credits": credited}


async def _relink(conn: Any, row: Any, inbox: str) -> tuple[int, int]:
    """Move the items the deletion unlinked, and still uncollected, back: (relinked, skipped)."""
    cid = str(row["id"])
    recorded = await conn.fetchval(
        "SELECT count(*) FROM geopera.collection_unlinks WHERE collection_id = $1", row["id"])
    ids = [r["id"] for r in await conn.fetch(
        """
        SELECT i.id FROM geopera.collection_unlinks u JOIN geopera.items i ON i.id = u.item_id
        WHERE u.collection_id = $1 AND i.collection_id IS NULL AND i.project_id = $2
          AND i.pgstac_collection = $3
        ORDER BY i.id FOR UPDATE OF i
        """, row["id"], row["project_id"], inbox)]
    if ids:
        text_ids = [str(i) for i in ids]
        # NOTE: pgstac partitions by collection: re-hydrate into the collection (set-based, as
        # collections.delete's general path), then drop the inbox rows.
        await pgstac_collections.rehydrate_items(conn, inbox, cid, text_ids)
        await conn.execute(
            "UPDATE geopera.items SET collection_id = $2, pgstac_collection = $3,"
            " updated_at = now() WHERE id = ANY($1::uuid[])", ids, row["id"], cid)
    return len(ids), recorded - len(ids)


async def restore_collection(conn: Any, collection_id: str, relink: bool = False
                             ) -> dict[str, Any]:
    cid = _uuid(collection_id, "collection")
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM geopera.collections WHERE id = $1 FOR UPDATE",
                                  cid)
        if row is None:
            raise NotFound(f"collection {collection_id} not found")
        if row["deleted_at"] is None:
            raise Conflict(f"collection {collection_id} is not deleted")
        inbox = await conn.fetchval(
            "SELECT inbox_collection FROM geopera.projects WHERE id = $1", row["project_id"])
        await pgstac_collections.create_collection(
            conn, dumps(stac_collection(str(cid), row["name"], row["description"])))
        await conn.execute("UPDATE geopera.collections SET deleted_at = NULL, updated_at = now()"
                           " WHERE id = $1", cid)
        relinked, skipped = await _relink(conn, row, inbox) if relink else (0, 0)
        pending = 0 if relink else await conn.fetchval(
            "SELECT count(*) FROM geopera.collection_unlinks WHERE collection_id = $1", cid)
        # NOTE: the record served this restore; a later deletion records its own unlinks.
        await conn.execute("DELETE FROM geopera.collection_unlinks WHERE collection_id = $1", cid)
        await admin_audit(conn, "admin.restore-collection", cid, row["project_id"])
    out: dict[str, Any] = {"id": collection_id, "restored": True, "project_id":
                           str(row["project_id"]), "relinked_items": relinked}
    if relink:
        out["not_relinked_items"] = skipped  # moved or re-filed since the deletion
    else:
        out["unlinked_items_left_uncollected"] = pending
    return out


async def audit_trail(conn: Any, org_id: str | None, project_id: str | None,
                      since: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Audit rows, newest first: who (user, key) did which operation to which ids, when."""
    if not 1 <= limit <= 10_000:
        raise InvalidRequest("--limit must be 1–10000")
    oid = _uuid(org_id, "org") if org_id else None
    pid = _uuid(project_id, "project") if project_id else None
    rows = await conn.fetch(
        """
        SELECT a.id, a.at, a.operation, a.principal_id, u.email, a.api_key_id, k.prefix,
               a.target_ids, a.request_id
        FROM geopera.audit_log a
        LEFT JOIN geopera.users u ON u.id = a.principal_id
        LEFT JOIN geopera.api_keys k ON k.id = a.api_key_id
        WHERE ($1::timestamptz IS NULL OR a.at >= $1)
          AND ($2::text IS NULL OR a.target_ids @> ARRAY[$2::text])
          AND ($3::uuid IS NULL OR a.target_ids @> ARRAY[$3::uuid::text] OR a.target_ids &&
               ARRAY(SELECT p.id::text FROM geopera.projects p WHERE p.org_id = $3::uuid))
        ORDER BY a.at DESC, a.id DESC LIMIT $4
        """, since, str(pid) if pid else None, oid, limit)
    return [{"at": r["at"].isoformat(), "operation": r["operation"],
             "user_id": str(r["principal_id"]) if r["principal_id"] else None,
             "email": r["email"], "key_id": str(r["api_key_id"]) if r["api_key_id"] else None,
             "key_prefix": r["prefix"], "target_ids": list(r["target_ids"]),
             "request_id": r["request_id"]} for r in rows]
