"""`user.erased` (GDPR Art. 19): after an erasure, the endpoints that stay are told, with the
erased-subject token and a per-endpoint keyed digest of the account id that only a receiver
holding that id can match (ADR 1253), and nothing else that names the person."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from fastapi import FastAPI

from tests.conftest import PASSWORD, make_admin
from tests.helpers_billing import User
from tests.helpers_teams import join, new_team, upgrade
from tests.mail import Mailbox
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_catalogue import valid
from voxbase.privacy.erase import erase_user
from voxbase.providers.storage import file_storage


def _user_ref(secret: str, user_id: str) -> str:
    """What docs/webhooks.md tells a receiver to compute."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


async def test_team_and_admin_endpoints_get_a_signed_user_erased_naming_nobody(
    app: FastAPI, client, mailbox: Mailbox, receiver: Receiver
):
    owner, person, bystander = [await User.create(client) for _ in range(3)]
    await upgrade(owner)  # seats for a member
    team = await new_team(owner, "Shared crew")
    await join(owner, person, team["id"], mailbox)

    team_hook = await create_endpoint(
        owner, receiver.url("/team"), ["user.erased"], team_id=team["id"]
    )
    admin_pair = await make_admin(app, client)
    admin = User(client, admin_pair, admin_pair["user"]["email"])
    admin_hook = await create_endpoint(admin, receiver.url("/admin"), ["user.erased"])
    await create_endpoint(admin, receiver.url("/admin-star"), ["*"])  # their own events only
    await create_endpoint(person, receiver.url("/own"), ["*"])  # erased with them
    await create_endpoint(bystander, receiver.url("/bystander"), ["*"])
    receiver.requests.clear()

    done = await erase_user(
        app.state.db, file_storage(app.state.settings), uuid.UUID(person.id), reason="request"
    )

    erased = [r for r in receiver.requests if r.json["type"] == "user.erased"]
    assert sorted(r.path for r in erased) == ["/admin", "/team"]
    by_path = {r.path: r for r in erased}
    for path, secret in (("/team", team_hook["secret"]), ("/admin", admin_hook["secret"])):
        message = by_path[path].verify(secret)  # signed per Standard Webhooks
        assert valid(message), message
        assert message["data"] == {
            "erasure_id": str(done.id),
            "token": str(done.token),
            "user_ref": _user_ref(secret, person.id),
            "erased_at": message["data"]["erased_at"],
            "reason": "request",
        }
        # The receiver holds its users' ids: the one that matches is whom to erase (ADR 1253).
        held = [owner.id, person.id, bystander.id]
        ref = message["data"]["user_ref"]
        assert [u for u in held if _user_ref(secret, u) == ref] == [person.id]
    team_ref, admin_ref = (by_path[p].json["data"]["user_ref"] for p in ("/team", "/admin"))
    assert team_ref != admin_ref  # keyed per endpoint: two receivers cannot compare notes
    assert by_path["/team"].headers["webhook-id"] != by_path["/admin"].headers["webhook-id"]
    for request in erased:  # nothing of the person
        body = request.body.decode().lower()
        for needle in (person.id, uuid.UUID(person.id).hex, person.email):
            assert needle.lower() not in body

    # The person is gone (their own endpoint with them); the team's endpoint stays.
    login = await client.post("/v1/auth/login", json={"login": person.email, "password": PASSWORD})
    assert login.status_code == 401
    listed = await owner.get("/v1/webhook-endpoints", params={"team_id": team["id"]})
    assert [e["id"] for e in listed.json()["items"]] == [team_hook["id"]]


async def test_a_resumed_erasure_still_tells_the_teams_it_began_with(
    app: FastAPI, client, mailbox: Mailbox, receiver: Receiver
):
    """The teams are listed when the erasure begins and kept in its record: an erasure that
    resumes after the memberships are gone still tells those teams."""
    from voxbase.core.db import unit_of_work
    from voxbase.privacy.erase import begin

    owner, person = [await User.create(client) for _ in range(2)]
    await upgrade(owner)
    team = await new_team(owner, "Crew")
    await join(owner, person, team["id"], mailbox)
    hook = await create_endpoint(owner, receiver.url("/team"), ["user.erased"], team_id=team["id"])
    async with unit_of_work(app.state.db) as session:
        await begin(session, uuid.UUID(person.id), "request")
    # Meanwhile (as if the erasure had deleted them before a crash) the membership goes.
    left = await client.delete(f"/v1/teams/{team['id']}/members/{person.id}", headers=owner.headers)
    assert left.status_code == 204, left.text
    receiver.requests.clear()

    done = await erase_user(
        app.state.db, file_storage(app.state.settings), uuid.UUID(person.id), reason="request"
    )
    [message] = [r for r in receiver.requests if r.json["type"] == "user.erased"]
    assert message.verify(hook["secret"])["data"]["token"] == str(done.token)
