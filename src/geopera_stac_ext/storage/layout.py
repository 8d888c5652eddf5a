"""`admin move-storage`: bring files of the old shared-root layout into per-project areas."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.storage.hrefs import AREA_DIR, local_path

# Live local assets with the project whose area must hold their file (the origin's project).
LEGACY_SQL = """
SELECT DISTINCT a.href, oi.project_id
FROM geopera.assets a
JOIN geopera.assets o ON o.id = coalesce(a.origin_id, a.id)
JOIN geopera.items oi ON oi.id = o.item_id
WHERE a.deleted_at IS NULL AND a.href !~ '^(s3|gs|https?)://'
ORDER BY a.href, oi.project_id
"""


def _old_place(root: Path, href: str) -> Path | None:
    """Where the shared-root layout kept a relative href's file (None: not such an href)."""
    if href.startswith(("/", "file:")) or "\\" in href:
        return None
    old = (root / href).resolve()
    if root not in old.parents or (root / AREA_DIR) in old.parents or not old.is_file():
        return None
    return old


def plan(root: Path, rows: list[Any]) -> list[dict[str, Any]]:
    """One entry per (href, project): in_place, link (from → to), missing, or conflict."""
    claimants: dict[str, set[str]] = {}
    for r in rows:
        claimants.setdefault(r["href"], set()).add(str(r["project_id"]))
    out = []
    for r in rows:
        href, pid = r["href"], str(r["project_id"])
        entry: dict[str, Any] = {"href": href, "project_id": pid}
        try:
            target = local_path(root, pid, href)
        except InvalidRequest as e:
            out.append({**entry, "action": "refused", "reason": e.detail})
            continue
        assert target is not None
        old = _old_place(root, href)
        if target.is_file():
            entry["action"] = "in_place"
        elif old is None:
            entry["action"] = "missing"
        elif len(claimants[href]) > 1:
            # NOTE: several projects' items name the same shared-root path: the operator must
            # decide whose file it is (one of them may have named another tenant's file).
            entry.update(action="conflict", projects=sorted(claimants[href]))
        else:
            entry.update(action="link", source=str(old), target=str(target))
        out.append(entry)
    return out


def apply(entries: list[dict[str, Any]]) -> None:
    """Hard-link (or copy, across file systems) each planned file into its project's area."""
    for e in entries:
        if e["action"] != "link":
            continue
        target = Path(e["target"])
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(e["source"], target)
        except OSError:
            shutil.copy2(e["source"], target)
        e["action"] = "linked"


async def move_storage(conn: Any, root: Path, do_apply: bool) -> dict[str, Any]:
    # NOTE: a one-off CLI command (`geopera-stac admin …`): no server event loop to block.
    entries = plan(root.resolve(), await conn.fetch(LEGACY_SQL))  # noqa: ASYNC240
    if do_apply:
        apply(entries)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["action"]] = counts.get(e["action"], 0) + 1
    return {"applied": do_apply, "counts": counts,
            "entries": [e for e in entries if e["action"] != "in_place"]}
