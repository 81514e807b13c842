"""The administrator's webhook-events routes name every registered inbox (ADR 1160)."""

from __future__ import annotations

from typing import get_args

from voxbase.admin.inbox_api import InboxName
from voxbase.core import inbox
from voxbase.models import load_all_models


def test_every_registered_inbox_can_be_listed_and_filtered_by_name() -> None:
    load_all_models()  # each module registers its inbox when it is imported
    assert set(get_args(InboxName)) == set(inbox.INBOXES)
