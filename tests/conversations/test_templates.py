"""Templates: own, public and system templates; usage counting; who may change what."""

from __future__ import annotations

from voxbase.assistants import service as assistants
from voxbase.core.db import unit_of_work

CUES = [
    {"phrases": ["budget", "price"], "type": "ask", "content": "Ask about budget.", "priority": 1}
]


async def test_own_template_crud_and_usage(alice, manual_clock):
    created = await alice.post(
        "/v1/templates",
        json={
            "name": "Discovery",
            "conversation_type": "sales_call",
            "cue_set": CUES,
            "summary_template": "## Pain points\n## Next steps\n",
        },
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["usage_count"] == 0 and template["is_system"] is False
    assert template["cue_set"][0]["type"] == "ask"

    for _ in range(2):
        conversation = await alice.conversation(channel="live", template_id=template["id"])
        assert conversation["conversation_type"] == "sales_call"
    fetched = (await alice.get(f"/v1/templates/{template['id']}")).json()
    assert fetched["usage_count"] == 2 and fetched["last_used_at"] is not None

    patched = await alice.patch(f"/v1/templates/{template['id']}", json={"name": "Discovery v2"})
    assert patched.json()["name"] == "Discovery v2"
    bad = await alice.post(
        "/v1/templates",
        json={"name": "x", "cue_set": [{"phrases": [], "type": "ask", "content": "y"}]},
    )
    assert bad.status_code == 422
    assert (await alice.delete(f"/v1/templates/{template['id']}")).status_code == 204
    assert (await alice.get(f"/v1/templates/{template['id']}")).status_code == 404


async def test_visibility_private_public_system(alice, bob, app):
    async with unit_of_work(app.state.db) as session:
        system = await assistants.install_profile_templates(session)
    async with unit_of_work(app.state.db) as session:
        again = await assistants.install_profile_templates(session)
    assert [t.id for t in again] == [t.id for t in system]

    private = (await alice.post("/v1/templates", json={"name": "Mine"})).json()
    public = (await alice.post("/v1/templates", json={"name": "Shared", "is_public": True})).json()

    assert (await bob.get(f"/v1/templates/{private['id']}")).status_code == 404
    assert (await bob.get(f"/v1/templates/{public['id']}")).status_code == 200
    forbidden = await bob.patch(f"/v1/templates/{public['id']}", json={"name": "hijack"})
    assert forbidden.status_code == 403
    denied = await bob.post("/v1/conversations", json={"template_id": private["id"]})
    assert denied.status_code == 404

    names = {
        t["name"] for t in (await bob.get("/v1/templates", params={"limit": 200})).json()["items"]
    }
    assert names == {"Shared", *(t.name for t in system)}
    only_system = (await bob.get("/v1/templates", params={"kind": "system"})).json()["items"]
    assert {t["name"] for t in only_system} == {t.name for t in system}
    assert all(t["is_system"] for t in only_system)
    mine = (await alice.get("/v1/templates", params={"kind": "mine"})).json()["items"]
    assert {t["name"] for t in mine} == {"Mine", "Shared"}

    sales = next(t for t in system if t.conversation_type == "sales_call")
    conversation = await bob.conversation(channel="live", template_id=str(sales.id))
    assert conversation["template_id"] == str(sales.id)
    assert (await bob.patch(f"/v1/templates/{sales.id}", json={"name": "x"})).status_code == 403
