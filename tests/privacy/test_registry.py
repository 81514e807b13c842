"""Every table has a privacy rule, and every column that can point at or describe a person is
handled by it. A table added without a rule fails here, with what to add and where."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import Table, Uuid

from voxbase.core.db import Base
from voxbase.core.privacy import Custom, Delete, NoPersonalData, Pseudonymise, Rule, registry
from voxbase.models import MODEL_MODULES, load_privacy_rules
from voxbase.privacy.policies import CATALOG
from voxbase.profiles import load_profile, presets

# Columns that hold the id of a person (they must be how the rule finds rows: subject or refs).
POINTER = re.compile(r"^(user_id|.+_user_id|owner_id|actor_id|subject_id|.+_by)$")
# Columns that describe a person (kept rows must scrub them; untracked tables may not have them).
ATTRIBUTE = re.compile(
    r"^(e?mail|.+_email|email_.+|phone.*|.+_phone|.+_number|ip_address|.+_ip|user_agent|"
    r"full_name|first_name|last_name|username|display_name|address.*)$"
)


def _tables() -> list[Table]:
    load_privacy_rules()
    return list(Base.metadata.sorted_tables)


def _model_of(table: Table) -> type | None:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_  # type: ignore[no-any-return]
    return None


def _points_at_users(table: Table, name: str) -> bool:
    return any(fk.column.table.name == "users" for fk in table.c[name].foreign_keys)


def _is_pointer(table: Table, name: str) -> bool:
    """Named like a person's id and typed like one (ids are UUIDs: `calls.answered_by` is a
    classification word, not a person), or a foreign key to users."""
    typed = isinstance(table.c[name].type, Uuid)
    return (typed and bool(POINTER.match(name))) or _points_at_users(table, name)


def _where_to_declare(model: type) -> tuple[str, str]:
    module = model.__module__
    package, _, leaf = module.rpartition(".")
    if leaf == "models":
        return (
            f"{package.replace('.', '/')}/privacy.py",
            "beside its models.py; loaded automatically",
        )
    return f"{module.replace('.', '/')}.py", "at the end of the module that defines the model"


def _missing_rule_message(table: Table) -> str:
    model = _model_of(table)
    name = model.__name__ if model else "<Model>"
    module = model.__module__ if model else "<module>"
    path, note = _where_to_declare(model) if model else ("<module>/privacy.py", "")
    pointers = [c.name for c in table.columns if _is_pointer(table, c.name)]
    subject = pointers[0] if pointers else "user_id"
    return f"""
Table {table.name!r} (model {name} in {module}) has no privacy rule.
Declare it in {path} ({note}):

    from voxbase.core.privacy import DELETE, Retention, registry
    from {module} import {name}

    registry.table(
        {name},
        subject="{subject}",  # the column(s) holding the id of the person the row is about
        export="{table.name}",  # the person's GDPR export gets {table.name}.json
        erase=DELETE,  # or Pseudonymise("the legal reason to keep it", columns={{...}})
        retention=Retention("<policy>", after="created_at"),  # policy: voxbase/privacy/policies.py
    )

or, when it can never hold data about a person:

    registry.no_personal_data({name}, "why not")

Other columns pointing at people go in refs=(...), text/JSON that may name them in mentions=(...),
rows belonging to another table's row use parent=("fk_column", Parent). See docs/privacy.md and
the docstring of voxbase/core/privacy.py. Then give the table rows of the erased person in
tests/privacy/scenario.py, so the erase scan test covers it.
"""


def test_every_table_has_a_privacy_rule() -> None:
    missing = [
        t for t in _tables() if t.name not in registry.rules and t.name not in registry.exempt
    ]
    if missing:
        pytest.fail("\n".join(_missing_rule_message(t) for t in missing), pytrace=False)


def test_no_rule_for_a_table_that_does_not_exist() -> None:
    names = {t.name for t in _tables()}
    stale = sorted((set(registry.rules) | set(registry.exempt)) - names)
    assert not stale, f"privacy rules for tables that are not in the models: {stale}"


def _problems(table: Table, entry: Rule | NoPersonalData) -> list[str]:
    pointers = {c.name for c in table.columns if _is_pointer(table, c.name)}
    attributes = {c.name for c in table.columns if ATTRIBUTE.match(c.name)}
    if isinstance(entry, NoPersonalData):
        found = sorted(pointers | attributes)
        return (
            [
                f"{table.name}: declared no_personal_data ({entry.reason!r}) but has column(s) "
                f"{', '.join(found)} that can identify a person: declare a registry.table rule"
            ]
            if found
            else []
        )
    problems = []
    finding = {c.name for c in entry.subject} | set(entry.refs) | set(entry.mentions)
    if entry.parent:
        finding.add(entry.parent[0])
    for name in sorted(pointers - finding):
        problems.append(
            f"{table.name}.{name} can hold a person's id: list it in subject= (their rows) "
            f"or refs= (other people's rows that point at them)"
        )
    if isinstance(entry.erase, Pseudonymise):
        scrubbed = set(entry.erase.columns) | set(entry.mentions) | finding
        for name in sorted(attributes - scrubbed):
            problems.append(
                f"{table.name}.{name} describes a person and the rule keeps rows: scrub it in "
                f"Pseudonymise(columns={{{name!r}: NULL}}) or search it with mentions="
            )
    if isinstance(entry.erase, Delete | Custom) and not entry.finds_rows:
        problems.append(f"{table.name}: the rule erases rows it has no way to find")
    if entry.parent and entry.parent[1].__tablename__ not in registry.rules:
        problems.append(f"{table.name}: parent {entry.parent[1].__name__} has no rule")
    for retention in entry.retention:
        if retention.policy not in CATALOG:
            problems.append(
                f"{table.name}: retention policy {retention.policy!r} is not in "
                f"voxbase/privacy/policies.py CATALOG"
            )
        if retention.row_days and retention.row_days.via:
            _fk, parent = retention.row_days.via
            if retention.row_days.column not in parent.__table__.columns:
                problems.append(
                    f"{table.name}: {parent.__name__} has no {retention.row_days.column}"
                )
    return problems


def test_every_column_that_can_identify_a_person_is_handled() -> None:
    problems = []
    for table in _tables():
        entry = registry.rules.get(table.name) or registry.exempt.get(table.name)
        if entry is not None:
            problems += _problems(table, entry)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_kept_rows_name_their_legal_reason() -> None:
    for rule in registry.rules.values():
        reason = getattr(rule.erase, "reason", None)
        if isinstance(rule.erase, Pseudonymise | Custom):
            assert reason and len(reason) > 15, f"{rule.name}: say why the rows are kept"


@pytest.mark.parametrize("name", presets())
def test_profiles_name_only_known_policies(name: str) -> None:
    profile = load_profile(name)  # validation refuses unknown keys and bad periods
    assert set(profile.retention) <= set(CATALOG)


def test_general_profile_gives_every_policy_a_period() -> None:
    general = load_profile("general").retention
    assert sorted(set(CATALOG) - set(general)) == [], (
        "give these policies a period in voxbase/profiles/presets/general.toml [retention]"
    )


def test_seed_retention_numbers() -> None:
    live = load_profile("liveconvo").retention
    assert (live["transcripts"], live["deleted_accounts"], live["system_logs"]) == (
        "30d",
        "90d",
        "30d",
    )
    assert live["usage_records"] == "7y"
    talking = load_profile("talking_app").retention
    assert (talking["calls"], talking["emails"], talking["sms"]) == ("2y", "2y", "1y")
    assert (talking["usage_records"], talking["amd_waiting_room"]) == ("3y", "24h")


def test_the_failure_message_says_what_to_add_and_where() -> None:
    from sqlalchemy import Column, ForeignKey, MetaData, String, Uuid

    table = Table(
        "calls",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("user_id", Uuid, ForeignKey("users.id")),
        Column("to_number", String(32)),
    )
    message = _missing_rule_message(table)
    assert "has no privacy rule" in message
    assert 'subject="user_id"' in message
    assert "tests/privacy/scenario.py" in message
    problems = _problems(table, NoPersonalData(type("Call", (), {"__table__": table}), "x"))
    assert problems and "user_id" in problems[0] and "to_number" in problems[0]


def test_rules_are_declared_beside_the_models() -> None:
    for rule in [*registry.rules.values(), *registry.exempt.values()]:
        model_module = rule.model.__module__
        package = model_module.rpartition(".")[0]
        assert rule.declared_in in (model_module, f"{package}.privacy"), (
            f"{rule.table.name}: declared in {rule.declared_in}, not beside {model_module}"
        )
    assert all(Path(sys.modules[m].__file__ or "").exists() for m in MODEL_MODULES)
