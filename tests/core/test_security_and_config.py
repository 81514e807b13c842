"""Unit tests of core pieces: password hashing, access tokens, settings validation, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from voxbase.core import clock
from voxbase.core.config import ConfigError, load_settings
from voxbase.core.errors import InvalidInput
from voxbase.core.pagination import decode_cursor, encode_cursor
from voxbase.core.security import AccessTokens, Passwords, TokenError, new_token, token_digest


def test_passwords_default_to_owasp_argon2id():
    hashed = Passwords().hash("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_password_verification():
    passwords = Passwords(time_cost=1, memory_kib=1024)
    hashed = passwords.hash("s3cret passphrase")
    assert passwords.verify(hashed, "s3cret passphrase")
    assert not passwords.verify(hashed, "S3cret passphrase")
    assert not passwords.verify(None, "s3cret passphrase")
    assert not passwords.verify("not a hash", "s3cret passphrase")
    # Hashes made with weaker parameters are upgraded on the next sign-in.
    assert Passwords().needs_rehash(hashed)
    assert not passwords.needs_rehash(hashed)


def test_opaque_tokens_are_random_and_stored_as_digests():
    first, second = new_token("vxb_"), new_token("vxb_")
    assert first != second and first.startswith("vxb_") and len(first) > 40
    digest = token_digest(first)
    assert len(digest) == 64 and first not in digest


def test_access_tokens_expire_on_the_service_clock():
    tokens = AccessTokens("k" * 48, ttl_seconds=60)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    with clock.using(clock.ManualClock(datetime(2030, 1, 1, tzinfo=UTC))) as fake:
        token, expires = tokens.issue(user_id, session_id, "admin")
        claims = tokens.verify(token)
        assert (claims.user_id, claims.session_id, claims.role) == (user_id, session_id, "admin")
        assert claims.expires_at == expires
        fake.advance(timedelta(seconds=60))
        with pytest.raises(TokenError):
            tokens.verify(token)
    with pytest.raises(TokenError):
        AccessTokens("another key" * 5, 60).verify(token)


def test_settings_validation_names_each_bad_value(monkeypatch):
    monkeypatch.setenv("VOXBASE_PORT", "99999")
    monkeypatch.setenv("VOXBASE_LOGIN_LIMIT_PER_IP", "lots")
    with pytest.raises(ConfigError) as caught:
        load_settings(database_url="oracle://scott:tiger@db/x", log_level="LOUD")
    problems = caught.value.problems
    message = str(caught.value)
    assert len(problems) == 4
    for name in (
        "VOXBASE_PORT",
        "VOXBASE_LOGIN_LIMIT_PER_IP",
        "VOXBASE_DATABASE_URL",
        "VOXBASE_LOG_LEVEL",
    ):
        assert sum(line.startswith(f"{name}:") for line in problems) == 1, message
    port_line = next(line for line in problems if line.startswith("VOXBASE_PORT:"))
    assert "65535" in port_line and "99999" in port_line


def test_settings_never_echo_secret_values(monkeypatch):
    monkeypatch.setenv("VOXBASE_SMTP_PORT", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings(smtp_password=12345)
    assert "12345" not in str(caught.value)


def test_production_requires_a_secret_key(monkeypatch):
    monkeypatch.delenv("VOXBASE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(environment="production")
    assert "VOXBASE_SECRET_KEY" in str(caught.value)


def test_config_file_is_read_and_validated(tmp_path, monkeypatch):
    config = tmp_path / "voxbase.toml"
    config.write_text('port = 9123\nlog_level = "ERROR"\n')
    monkeypatch.setenv("VOXBASE_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.port == 9123 and settings.log_level == "ERROR"
    monkeypatch.setenv("VOXBASE_PORT", "9124")  # the environment wins over the file
    assert load_settings().port == 9124
    config.write_text("port = -1\n")
    monkeypatch.delenv("VOXBASE_PORT")
    with pytest.raises(ConfigError, match="VOXBASE_PORT"):
        load_settings()


def test_cursor_round_trip_and_garbage():
    stamp, row_id = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(stamp, row_id)) == (stamp, row_id)
    for garbage in ("", "!!!", "bm90IGpzb24", encode_cursor(stamp, row_id)[:-3]):
        with pytest.raises(InvalidInput):
            decode_cursor(garbage)
