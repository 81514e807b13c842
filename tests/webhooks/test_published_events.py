"""Every domain event a module publishes is in the webhook catalogue (docs/webhooks.md), or is
listed here as internal with the reason it is not offered to customers.

The events are found in the source: each `events.publish(session, NAME, …)` call, NAME resolved
in its module (a literal, a constant, or another module's constant), and billing's
`record_event(session, sub, "kind")` calls (published as `billing.<kind>`). A publish whose name
cannot be resolved statically must be listed in EXPRESSIONS with what it can be, so a new
event never slips past the catalogue unnoticed."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

from voxbase.webhooks.catalogue import EVENT_TYPES

PACKAGE = Path(__file__).resolve().parents[2] / "voxbase"

INTERNAL = {
    "user.registered": "accounts → billing opens the subscription; `subscription.created` tells",
    "user.deleted": "a grace period starts; `user.erased` tells the erasure itself",
    "billing.activity.call_ended": "billing's history of a call; `call.ended` tells",
    "webhooks.endpoint_disabled": "the endpoint's owner is notified; the endpoint itself is off",
    "team.invitation_created": "carries the invitee's address; the invitee is mailed",
}
# Published on main by another change that adds it to the catalogue (issue 8).
PENDING = {"ad_minutes.granted"}
# Names computed at run time: the expression as written → every name it can take.
EXPRESSIONS = {
    "f'subscription.{change.change_type}_scheduled'": {
        "subscription.downgrade_scheduled",
        "subscription.interval_change_scheduled",
    },
    "APPLIED_EVENTS.get(change.change_type, 'subscription.changed')": {
        "subscription.downgraded",
        "subscription.interval_changed",
        "subscription.upgraded",
        "subscription.changed",
    },
}
BILLING_EVENT = "f'billing.{event_type}'"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name | ast.Attribute):
        first, *rest = ast.unparse(node).split(".")
        value: Any = namespace[first]
        for part in rest:
            value = getattr(value, part)
        assert isinstance(value, str), ast.unparse(node)
        return {value}
    text = ast.unparse(node)
    assert text in EXPRESSIONS, f"cannot tell which event {text} is: add it to EXPRESSIONS"
    return EXPRESSIONS[text]


def published_events() -> set[str]:
    found: set[str] = set()
    billing_kinds: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        namespace: dict[str, Any] | None = None
        for call in calls:
            func = ast.unparse(call.func)
            if func == "events.publish" and len(call.args) >= 2:
                if ast.unparse(call.args[1]) == BILLING_EVENT:
                    continue  # billing's `record_event`: its kinds are collected below
                namespace = namespace or vars(importlib.import_module(_module_name(path)))
                found |= _resolve(call.args[1], namespace)
            elif path.parent.name == "billing" and func in ("record_event", "service.record_event"):
                namespace = namespace or vars(importlib.import_module(_module_name(path)))
                billing_kinds |= _resolve(call.args[2], namespace)
    assert billing_kinds, "billing's `record_event` calls were not found"
    return found | {f"billing.{kind}" for kind in billing_kinds}


def test_every_published_event_is_in_the_catalogue_or_internal() -> None:
    published = published_events()
    offered = {e.domain_event for e in EVENT_TYPES if e.domain_event}
    assert "usage.threshold" in published and "content.published" in published
    missing = published - offered - set(INTERNAL) - PENDING
    assert not missing, f"published but neither in the webhook catalogue nor internal: {missing}"
    assert not set(INTERNAL) & offered, "an internal event is in the catalogue"
    assert set(INTERNAL) <= published, "an internal event is no longer published"
    # `subscription.upgrade_scheduled` stays subscribable: upgrades apply at once today.
    stale = offered - published - {"billing.subscription.upgrade_scheduled"}
    assert not stale, f"in the catalogue but never published: {stale}"
