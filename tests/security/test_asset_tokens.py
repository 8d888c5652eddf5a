"""Embeddable asset URLs: thumbnail/overview hrefs carry a short-lived token bound to the key and
the asset; without a header it serves only while valid, unexpired and the key unrevoked, after
the same access checks and accounting as the header; anything else is 401/403/404, never bytes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conftest import ok, op, problem
from download_helpers import scene_with_thumbnail

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.storage.asset_tokens import TOKEN_STEP_SECONDS, TOKEN_TTL_SECONDS, make_token
from geopera_stac_ext.storage.signing import signing_secret

PNG = "image/png"


def stac_item(client, scene, actor) -> dict[str, Any]:
    return ok(client.get(f"/collections/{scene['collection']['id']}/items/{scene['item']['id']}",
                         headers=actor.headers))


def grants(db) -> list[Any]:
    return db(lambda c: c.fetch("SELECT * FROM geopera.egress_ledger ORDER BY at, id"))


def token_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["access_token"][0]


def test_thumbnail_hrefs_carry_a_key_bound_token_in_every_stac_representation(
        client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    viewer, iid, cid = world["viewer"], scene["item"]["id"], scene["collection"]["id"]
    h = viewer.headers
    reps = [
        ok(client.get("/search", params={"ids": iid}, headers=h))["features"][0],
        ok(client.post("/search", json={"ids": [iid]}, headers=h))["features"][0],
        ok(client.get(f"/collections/{cid}/items", headers=h))["features"][0],
        stac_item(client, scene, viewer),
        ok(op(client, "items.get_stac", viewer, item_id=iid)),
        ok(op(client, "items.search", viewer, project_id=world.project_a1,
              format="stac"))["features"][0],
    ]
    for feature in reps:
        thumb, data = feature["assets"]["thumbnail"]["href"], feature["assets"]["data"]["href"]
        key_id, expires, _ = token_of(thumb).split(".")
        assert key_id == viewer.key_id
        assert thumb.startswith(f"http://testserver/v1/assets/{scene['ids']['thumbnail']}/"
                                "thumb.png?access_token=")
        # NOTE: data hrefs are read by tools that send the header; they carry no token
        assert "?" not in data and data.endswith("/scene.tif")
    assert grants(db) == []  # listing spends no grant
    # another key gets its own token
    other = token_of(stac_item(client, scene, world["owner"])["assets"]["thumbnail"]["href"])
    assert other.split(".")[0] == world["owner"].key_id


def test_a_token_alone_serves_the_thumbnail_with_the_keys_checks_and_accounting(
        client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    viewer = world["viewer"]
    href = stac_item(client, scene, viewer)["assets"]["thumbnail"]["href"]
    r = client.get(href)  # no Authorization header: an <img src>
    assert r.status_code == 200, r.text
    assert r.content == scene["files"]["thumbnail"]["bytes"]
    assert r.headers["content-type"] == PNG
    head = client.head(href)
    assert head.status_code == 200 and head.content == b""
    rows = grants(db)
    assert len(rows) == 1 and rows[0]["via"] == "href"
    assert str(rows[0]["api_key_id"]) == viewer.key_id  # billed to the key the token names
    assert rows[0]["bytes"] == len(scene["files"]["thumbnail"]["bytes"])


def test_a_tampered_token_or_another_assets_token_is_401_without_bytes(
        client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    href = stac_item(client, scene, world["viewer"])["assets"]["thumbnail"]["href"]
    path, token = href.split("?access_token=")
    key_id, expires, mac = token.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    data_path = f"/v1/assets/{scene['ids']['data']}/scene.tif"
    bad = [
        f"{path}?access_token={key_id}.{expires}.{flipped}",             # MAC altered
        f"{path}?access_token={key_id}.{int(expires) + 3600}.{mac}",     # expiry pushed out
        f"{path}?access_token={world['owner'].key_id}.{expires}.{mac}",  # another key's id
        f"{path}?access_token={key_id}.{expires}",                       # truncated
        f"{path}?access_token=",
        f"{path}?access_token={'x' * 500}",
        f"{data_path}?access_token={token}",                             # another asset
        f"/v1/assets/not-a-uuid/thumb.png?access_token={token}",
    ]
    for url in bad:
        r = client.get(url)
        body = problem(r, 401)
        assert scene["files"]["thumbnail"]["bytes"] not in r.content
        assert token not in r.text and mac not in body["detail"]  # never echoed
    # the token authenticates nothing but its asset route: not the STAC API, not the op API
    problem(client.get(f"/search?access_token={token}"), 401)
    problem(client.post(f"/v1/op/items.get?access_token={token}",
                        json={"item_id": scene["item"]["id"]}), 401)
    assert grants(db) == []


def test_a_token_expires(client, db, settings, clock, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    href = stac_item(client, scene, world["viewer"])["assets"]["thumbnail"]["href"]
    expires = int(token_of(href).split(".")[1])
    # NOTE: rounded up to a step: the same URL for a while (browser caches), 15-20 min of life
    assert TOKEN_TTL_SECONDS <= expires - clock.now.timestamp() <= TOKEN_TTL_SECONDS \
        + TOKEN_STEP_SECONDS
    clock.now += timedelta(seconds=TOKEN_TTL_SECONDS - 60)
    assert client.get(href).status_code == 200
    clock.now += timedelta(seconds=TOKEN_STEP_SECONDS + 61)
    problem(client.get(href), 401)
    assert len(grants(db)) == 1


def test_a_revoked_keys_token_is_401(client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    viewer = world["viewer"]
    href = stac_item(client, scene, viewer)["assets"]["thumbnail"]["href"]
    db(lambda c: tenancy.revoke_key(c, viewer.key_id))
    body = problem(client.get(href), 401)
    assert "revoked" in body["detail"]
    assert grants(db) == []


def test_a_token_is_rechecked_against_the_keys_current_access(client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    viewer = world["viewer"]
    href = stac_item(client, scene, viewer)["assets"]["thumbnail"]["href"]
    ok(op(client, "items.delete", world["editor"], item_id=scene["item"]["id"]))
    problem(client.get(href), 404)
    assert grants(db) == []


def test_another_tenants_key_never_gets_bytes_with_or_without_a_token(
        client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    aid = scene["ids"]["thumbnail"]
    path = f"/v1/assets/{aid}/thumb.png"
    secret = signing_secret(settings)
    expires = int(stac_item(client, scene, world["viewer"])["assets"]["thumbnail"]["href"]
                  .split("access_token=")[1].split(".")[1])
    for actor in ("outsider", "loner"):
        # NOTE: a genuine token minted for the outsider's key (the server never hands one out
        # for an asset the key cannot list): the route still checks the key's access.
        forged = make_token(secret, world[actor].key_id, aid, expires)
        r = client.get(f"{path}?access_token={forged}")
        assert r.status_code in (403, 404), r.text
        assert scene["files"]["thumbnail"]["bytes"] not in r.content
        # the viewer's token sent along with the outsider's own header: the header decides
        viewer_token = make_token(secret, world["viewer"].key_id, aid, expires)
        r = client.get(f"{path}?access_token={viewer_token}", headers=world[actor].headers)
        assert r.status_code in (403, 404), r.text
        assert scene["files"]["thumbnail"]["bytes"] not in r.content
    # a key without items:read holds no usable token either
    readless = db(lambda c: _make_writer(c, world.project_a1))
    r = client.get(f"{path}?access_token={make_token(secret, readless.key_id, aid, expires)}")
    problem(r, 403)
    assert grants(db) == []


async def _make_writer(conn: Any, project_id: str) -> Any:
    from conftest import make_actor

    return await make_actor(conn, "writer@a.example", [("project", project_id, "owner")],
                            scopes="items:write")
