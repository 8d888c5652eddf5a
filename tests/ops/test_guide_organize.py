"""The guide's "Worked example: organize a delivery", steps 1–3, run unchanged with the client."""

import httpx

from conftest import item_params
from guide import GUIDE, STEPS_1_TO_3, WORKED_EXAMPLE, guide_worked_example


def test_sample_is_the_guides_text():
    def lines(s):
        return [line.strip() for line in s.splitlines() if line.strip()]
    assert lines(WORKED_EXAMPLE) == lines(guide_worked_example())


def test_organize_a_delivery_steps_1_to_3(live_server, world, monkeypatch, capsys):
    owner = world["owner"]

    def post(op_id, **params):
        r = httpx.post(f"{live_server}/v1/op/{op_id}", json=params, headers=owner.headers)
        assert r.status_code == 200, r.text
        return r.json()

    # A delivery of five loose items (names with stray whitespace), plus one already filed.
    for i in range(5):
        post("items.create", **item_params(world.project_a1, name=f"  Field {i} — 2026-05-18 "))
    filed = post("collections.create", project_id=world.project_a1, name="Earlier")
    post("items.create", **item_params(world.project_a1, name="old",
                                       collection_id=filed["id"]))

    code = STEPS_1_TO_3
    assert 'client = Geopera(api_key="gpra_your_api_key")' in code
    # NOTE: only the placeholders change: the key, the project id; the base URL comes from the
    # client's documented GEOPERA_BASE_URL variable.
    code = code.replace("gpra_your_api_key", owner.key).replace(
        '"8f2c1e4a-..."', repr(world.project_a1))
    monkeypatch.setenv("GEOPERA_BASE_URL", live_server)
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "guide"})
    out = capsys.readouterr().out
    assert out.strip() == "May 2026 aerial survey now holds 5 items"

    listed = post("items.list", project_id=world.project_a1, uncollected=True)
    assert listed["total"] == 0
    names = sorted(i["name"] for i in post("items.list", project_id=world.project_a1)["items"])
    assert names == sorted([f"Field {i} — 2026-05-18" for i in range(5)] + ["old"])
