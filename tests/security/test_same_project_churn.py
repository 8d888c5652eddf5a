"""Two create/delete loops in ONE project, with readers of that project and of another
organization, end with zero 5xx and zero failed reads (issue 11: both loops' deletes move items
into the same inbox partition while the other loop creates items)."""

from __future__ import annotations

import threading

import httpx

from conftest import create_collection, create_item, item_params, ok, op, run_while_serving
from geopera_stac_ext.app import create_app

LOOP_SECONDS = 15
ITEMS_PER_CYCLE = 3


def test_same_project_create_delete_loops_never_fail_writes_or_reads(client, settings, world,
                                                                    db_env, db):
    churner, owner, outsider = world["org_owner"], world["owner"], world["outsider"]
    project = world.project_a1
    keep = create_collection(client, owner, project, "Kept survey")
    for i in range(4):
        create_item(client, owner, project, collection_id=keep["id"], name=f"kept {i}")
    col_b = create_collection(client, outsider, world.project_b1, "B survey")
    for i in range(3):
        create_item(client, outsider, world.project_b1, collection_id=col_b["id"], name=f"b{i}")
    stop = threading.Event()
    cycles: list[int] = []
    failures: list[str] = []
    reads: list[int] = []
    settings.search_concurrency_per_user = 10  # NOTE: a few readers per user, not a flood

    def churn(loop: int, live_server: str) -> None:
        with httpx.Client(base_url=live_server, headers=churner.headers, timeout=60) as c:
            n = 0
            while not stop.is_set():
                n += 1
                col = c.post("/v1/op/collections.create",
                             json={"project_id": project, "name": f"tmp {loop}-{n}"})
                if col.status_code != 200:
                    failures.append(f"create {col.status_code} {col.text[:300]}")
                    continue
                cid = col.json()["id"]
                for k in range(ITEMS_PER_CYCLE):
                    # NOTE: each item's year is new to the inbox partition the delete moves
                    # it into, so the moves widen its datetime constraint every cycle.
                    it = c.post("/v1/op/items.create", json=item_params(
                        project, f"x{loop}-{n}-{k}", collection_id=cid,
                        datetime=f"{1900 + (n * 7 + loop * 3 + k) % 120}-03-04T05:06:07Z"))
                    if it.status_code != 200:
                        failures.append(f"item {it.status_code} {it.text[:300]}")
                gone = c.post("/v1/op/collections.delete",
                              json={"project_id": project, "collection_id": cid})
                if gone.status_code != 200:
                    failures.append(f"delete {gone.status_code} {gone.text[:300]}")
                cycles.append(1)

    def read(kind: int, live_server: str) -> None:
        actor = outsider if kind == 3 else owner
        with httpx.Client(base_url=live_server, headers=actor.headers, timeout=60) as c:
            while not stop.is_set():
                if kind == 0:
                    r = c.post("/search", json={"limit": 3})
                elif kind == 1:
                    r = c.get(f"/collections/{keep['id']}/items", params={"limit": 2})
                elif kind == 2:
                    r = c.post("/v1/op/items.search",
                               json={"project_id": project, "collections": [keep["id"]],
                                     "limit": 3})
                else:
                    r = c.post("/search", json={"collections": [col_b["id"]], "limit": 2})
                if r.status_code != 200:
                    failures.append(f"read {kind}: {r.status_code} {r.text[:300]}")
                elif kind in (1, 2) and r.json()["numberMatched"] != 4:
                    failures.append(f"read {kind}: matched {r.json()['numberMatched']}")
                elif kind == 3 and r.json()["numberMatched"] != 3:
                    failures.append(f"read {kind}: matched {r.json()['numberMatched']}")
                reads.append(1)

    loops = [lambda url, k=k: churn(k, url) for k in range(2)] + [
        lambda url, k=k: read(k % 4, url) for k in range(6)]
    run_while_serving(create_app(settings, pg_env=db_env), loops, LOOP_SECONDS, stop)
    assert not failures, (len(failures), sorted(set(f[:160] for f in failures))[:8])
    assert len(cycles) >= 4 and len(reads) >= 40, (len(cycles), len(reads))
    # every churned item ended in the project's inbox, in pgstac too
    listed = ok(op(client, "items.list", owner, project_id=project, uncollected=True, limit=1))
    moved = db(lambda c: c.fetchval(
        "SELECT count(*) FROM pgstac.items i JOIN geopera.projects p"
        " ON p.inbox_collection = i.collection WHERE p.id = $1", project))
    assert listed["total"] == moved == len(cycles) * ITEMS_PER_CYCLE
