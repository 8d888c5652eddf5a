"""Concurrent collections.delete calls in one project all succeed (they move their items into
the same inbox partition, whose pgstac datetime constraint each widens)."""

from __future__ import annotations

import threading

import httpx

from conftest import create_collection, create_item, ok, op

ROUNDS = 4
PER_ROUND = 3


def test_concurrent_collection_deletes_in_one_project_all_succeed(client, live_server, world,
                                                                  db):
    owner = world["owner"]
    failures: list[str] = []
    deleted: list[str] = []
    for r in range(ROUNDS):
        cols = []
        for k in range(PER_ROUND):
            col = create_collection(client, owner, world.project_a1, f"r{r} c{k}")
            # NOTE: each collection's items lie outside every other's datetime range, so each
            # move must widen the inbox partition's constraint.
            for year in (2001 + 6 * k + r, 2003 + 6 * k + r):
                create_item(client, owner, world.project_a1, collection_id=col["id"],
                            name=f"{r}-{k}-{year}", datetime=f"{year}-03-04T05:06:07Z")
            cols.append(col["id"])
        start = threading.Barrier(PER_ROUND)

        def delete(cid: str, start: threading.Barrier = start) -> None:
            with httpx.Client(base_url=live_server, headers=owner.headers, timeout=60) as c:
                start.wait()
                resp = c.post("/v1/op/collections.delete",
                              json={"project_id": world.project_a1, "collection_id": cid})
            if resp.status_code != 200:
                failures.append(f"{resp.status_code} {resp.text[:300]}")
            else:
                deleted.append(cid)

        threads = [threading.Thread(target=delete, args=(cid,)) for cid in cols]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not failures, failures
    assert len(deleted) == ROUNDS * PER_ROUND
    # every item is still there, in the inbox, and searchable
    found = ok(op(client, "items.search", owner, project_id=world.project_a1, limit=100))
    assert found["numberMatched"] == ROUNDS * PER_ROUND * 2
    assert db(lambda c: c.fetchval(
        "SELECT count(*) FROM pgstac.items i JOIN geopera.projects p"
        " ON p.inbox_collection = i.collection WHERE p.id = $1", world.project_a1)) == (
        ROUNDS * PER_ROUND * 2)
