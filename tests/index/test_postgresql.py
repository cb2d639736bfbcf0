"""The whole walk-through with the index in PostgreSQL instead of SQLite.

Skipped when no PostgreSQL server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom, pydicom_file

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    engine = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"orthanclite_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as error:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432: {error}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def test_walk_through_on_postgresql(tmp_path: Path, postgresql_url: str) -> None:
    process = ServerProcess(tmp_path / "data", extra_args=["--database-url", postgresql_url])
    try:
        with httpx.Client(base_url=process.url, timeout=60) as client:
            body = pydicom_file("CT_small.dcm").read_bytes()
            answer = client.post("/instances", content=body).json()
            assert answer["Status"] == "Success"
            again = client.post("/instances", content=body).json()
            assert again["Status"] == "AlreadyStored"
            second = client.post("/instances", content=make_dicom(patient_id="1CT1")).json()
            assert second["ParentPatient"] == answer["ParentPatient"]

            patient = client.get(f"/patients/{answer['ParentPatient']}").json()
            assert len(patient["Studies"]) == 2
            assert client.get(f"/instances/{answer['ID']}/file").content == body
            assert len(client.get("/instances?expand").json()) == 2

            removed = client.delete(f"/studies/{answer['ParentStudy']}").json()
            assert removed["RemainingAncestor"]["ID"] == answer["ParentPatient"]
            assert client.delete(f"/patients/{answer['ParentPatient']}").json() == {
                "RemainingAncestor": None
            }
            assert client.get("/statistics").json()["CountInstances"] == 0
    finally:
        process.stop()
