"""telephony: SMS opt-outs keep the contact's number only as a keyed hash (ADR 1252)

`contact_number` becomes `contact_hash` = HMAC-SHA256 of the number under the opt-out key
(`voxbase.telephony.optouts`). Existing rows are hashed here, with the service's settings
(`voxbase db upgrade` passes them; otherwise the environment's), so every STOP stays in force.

Revision ID: 1251
Revises: 1150
Create Date: 2026-12-01 20:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1251"
down_revision: str | None = "1161"  # the telephony branch (after its webhook retries)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPT_OUTS = sa.table(
    "sms_opt_outs",
    sa.column("id", sa.Uuid()),
    sa.column("contact_number", sa.String(16)),
    sa.column("contact_hash", sa.String(64)),
)


def _key() -> bytes:
    from voxbase.core.config import Settings
    from voxbase.telephony import optouts

    config = op.get_context().config
    settings = (config.attributes.get("settings") if config else None) or Settings()
    return optouts.key(settings)


def upgrade() -> None:
    from voxbase.telephony import optouts

    with op.batch_alter_table("sms_opt_outs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_hash", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(OPT_OUTS.c.id, OPT_OUTS.c.contact_number)).all()
    if rows:
        key = _key()
        for row_id, number in rows:
            connection.execute(
                OPT_OUTS.update()
                .where(OPT_OUTS.c.id == row_id)
                .values(contact_hash=optouts.digest_with(key, number))
            )
    with op.batch_alter_table("sms_opt_outs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sms_opt_outs_from_number_contact_number", type_="unique")
        batch_op.drop_column("contact_number")
        batch_op.alter_column("contact_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(
            "uq_sms_opt_outs_from_number_contact_hash", ["from_number", "contact_hash"]
        )


def downgrade() -> None:
    # The numbers cannot be recovered from their hashes: going back forgets every opt-out
    # (those numbers could be texted again). Never downgrade a serving database past 1251.
    connection = op.get_bind()
    count = connection.execute(sa.select(sa.func.count()).select_from(OPT_OUTS)).scalar()
    if count:
        logging.getLogger("alembic.runtime.migration").warning(
            "downgrade of 1251 forgets %s SMS opt-outs (their numbers are only hashed)", count
        )
    connection.execute(OPT_OUTS.delete())
    with op.batch_alter_table("sms_opt_outs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sms_opt_outs_from_number_contact_hash", type_="unique")
        batch_op.drop_column("contact_hash")
        batch_op.add_column(sa.Column("contact_number", sa.String(length=16), nullable=False))
        batch_op.create_unique_constraint(
            "uq_sms_opt_outs_from_number_contact_number", ["from_number", "contact_number"]
        )
