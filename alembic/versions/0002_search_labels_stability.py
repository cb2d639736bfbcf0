"""Search rows for every main tag, labels, and stability tracking.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import json

import sqlalchemy as sa

from alembic import op
from orthanclite.dicom.levels import Level
from orthanclite.index.search_values import identifier_rows

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(
            sa.Column("stable_time", sa.Float, nullable=False, server_default="0")
        )
    # Resources indexed before this revision count as stable already.
    op.execute("UPDATE resources SET stable_time = last_instance_time")

    # Revision 0001 indexed four identifiers with accents stripped from every
    # value; refill the table with every main tag in the new normalization.
    op.drop_index("ix_dicom_identifiers_tag_value", "dicom_identifiers")
    op.execute("DELETE FROM dicom_identifiers")
    connection = op.get_bind()
    identifiers = sa.table(
        "dicom_identifiers",
        sa.column("resource_id", sa.Integer),
        sa.column("tag", sa.Integer),
        sa.column("value", sa.String),
    )
    for resource_id, level, main_tags, patient_tags in connection.execute(
        sa.text("SELECT id, level, main_tags, patient_tags FROM resources")
    ):
        rows = identifier_rows(
            Level(level), resource_id, _json(main_tags) or {}, _json(patient_tags)
        )
        if rows:
            connection.execute(identifiers.insert(), rows)
    op.create_index(
        "ix_dicom_identifiers_search",
        "dicom_identifiers",
        ["tag", "value", "resource_id"],
    )

    op.create_table(
        "labels",
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(64), primary_key=True),
    )
    op.create_index("ix_labels_label", "labels", ["label"])


def _json(value):  # type: ignore[no-untyped-def]
    return json.loads(value) if isinstance(value, str) else value


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_index("ix_dicom_identifiers_search", "dicom_identifiers")
    op.create_index(
        "ix_dicom_identifiers_tag_value", "dicom_identifiers", ["tag", "value"]
    )
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("stable_time")
