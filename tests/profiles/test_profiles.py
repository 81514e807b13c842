"""Profiles: every preset loads and is consistent; a broken profile stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxbase.core.config import ConfigError, Settings
from voxbase.profiles import install_from_settings, load_profile, presets

ISSUE_METERS = {
    "calls",
    "texts",
    "emails",
    "audio_seconds",
    "ai_guidance",
    "summary_generation",
    "messages",
    "conversations",
    "tokens",
    "voice_minutes",
    "images_generated",
    "videos_created",
    "api_calls",
    "extra_locations",
    "extra_users",
}


def test_presets_load():
    assert set(presets()) >= {
        "general",
        "talking_app",
        "mindbot",
        "chefsocial",
        "voiceast",
        "liveconvo",
    }
    for name in presets():
        profile = load_profile(name)
        assert profile.plan(profile.default_plan) is not None


def test_general_profile_has_every_seed_meter():
    profile = load_profile("general")
    assert {m.key for m in profile.meters} >= ISSUE_METERS
    assert {m.aggregation for m in profile.meters} == {"sum", "count", "max"}


def test_seed_002_limits():
    profile = load_profile("talking_app")
    limits = {p.key: {k: int(v) for k, v in p.limits.items()} for p in profile.plans}
    assert limits == {
        "free": {"calls": 1, "texts": 1, "emails": 1},
        "pro": {"calls": 5, "texts": 10, "emails": -1},
        "premium": {"calls": -1, "texts": -1, "emails": -1},
    }


def test_seed_003_tiers_and_seed_004_features():
    tier = load_profile("mindbot").tier("popular")
    assert tier is not None and tier.minutes == 5 * 60 + 30
    chef = load_profile("chefsocial")
    assert len(chef.features) == 9
    assert chef.plan("professional").overage["voice_minutes"] == 10  # type: ignore[union-attr]


def test_inconsistent_profile_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "Bad"\ndefault_plan = "free"\n'
        '[[meters]]\nkey = "calls"\nunit = "call"\n'
        '[[plans]]\nkey = "free"\nname = "Free"\nlimits = { texts = 1 }\n'
    )
    with pytest.raises(ValueError, match="unknown meter"):
        load_profile(str(bad))
    settings = Settings(environment="test", secret_key="k" * 40, profile=str(bad))
    with pytest.raises(ConfigError):
        install_from_settings(settings)
    with pytest.raises(ConfigError):
        install_from_settings(Settings(environment="test", secret_key="k" * 40, profile="nope"))


@pytest.mark.parametrize("name", presets())
def test_every_preset_s_templates_are_valid_templates(name):
    from voxbase.assistants.schemas import TemplateCreate

    for template in load_profile(name).templates:
        TemplateCreate.model_validate(template)


async def test_the_profile_s_system_templates_are_installed_once(app, client):
    from tests.conftest import bearer, register
    from voxbase.assistants import service as assistants
    from voxbase.core.db import unit_of_work

    for _ in range(2):
        async with unit_of_work(app.state.db) as session:
            await assistants.install_profile_templates(session)
    pair = await register(client)
    system = await client.get(
        "/v1/templates", params={"kind": "system"}, headers=bearer(pair["access_token"])
    )
    names = [t["name"] for t in system.json()["items"]]
    assert sorted(names) == sorted(t["name"] for t in load_profile("general").templates)
