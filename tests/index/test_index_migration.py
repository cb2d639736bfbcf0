"""Revision 0002 on an index written by revision 0001."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.config import Config
from sqlalchemy import create_engine, text

from alembic import command
from orthanclite.index.session import migrations_folder


def upgrade(engine, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_migration_refills_identifiers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO resources (id, level, public_id, main_tags, patient_tags, "
                "last_update, last_instance_time) VALUES "
                "(1, 0, 'p', :patient, NULL, '20260101T000000', 5.0), "
                "(2, 1, 's', :study, :patient, '20260101T000000', 5.0)"
            ),
            {
                "patient": json.dumps({"PatientID": "ab", "PatientName": "Müller"}),
                "study": json.dumps({"StudyDate": "", "StudyInstanceUID": "1.2"}),
            },
        )
        connection.execute(
            text(
                "INSERT INTO dicom_identifiers (resource_id, tag, value) "
                "VALUES (1, 1048608, 'AB')"
            )
        )
    upgrade(engine, "head")
    with engine.connect() as connection:
        rows = set(
            connection.execute(
                text("SELECT resource_id, tag, value FROM dicom_identifiers")
            )
        )
        stable = connection.execute(
            text("SELECT stable_time FROM resources WHERE id = 2")
        ).scalar()
    assert rows == {
        (1, 0x00100020, "AB"),
        (1, 0x00100010, "MULLER"),
        (2, 0x00080020, ""),
        (2, 0x0020000D, "1.2"),
        (2, 0x00100020, "AB"),
        (2, 0x00100010, "MULLER"),
    }
    assert stable == 5.0
