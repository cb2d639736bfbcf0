"""Archives and media over HTTP: layout, bytes, DICOMDIR, errors and streaming.

The expected member names were produced by Orthanc 1.10.1 from the same
synthetic files.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_charset_files
from pydicom.fileset import FileSet

from tests.helpers import ServerProcess, make_dicom, pydicom_file

FAST_ENV = {"ORTHANCLITE_FSYNC": "false"}

# Synthetic studies and the member names Orthanc 1.10.1 gives them.
LAYOUT_CASES = {
    "filtered": (
        dict(
            patient_id="PID-x.y_z",
            PatientName="Last^First^Mid",
            AccessionNumber="ACC/1-2",
            StudyDescription="ab,c (d) [e]",
            Modality="RTSTRUCT",
            SeriesDescription="  lead and trail  ",
        ),
        "PIDx.y_z Last First Mid/ACC12 abc d e/RTSTRUCT lead and trail/RT000000.dcm",
    ),
    "latin1": (
        dict(
            patient_id="L-1",
            PatientName="Äneas^Rüdiger",
            SpecificCharacterSet="ISO_IR 100",
            StudyDescription="Étude/1-2",
            SeriesDescription="A^B  c",
        ),
        "L1 neas Rdiger/tude12/OT A B c/OT000000.dcm",
    ),
    "empty": (
        dict(patient_id="", PatientName="", Modality=""),
        "Unknown Patient/Unknown Study/Unknown Series/00000000.dcm",
    ),
    "greek": (
        dict(
            patient_id="G-1",
            PatientName="Γιωργος^Δημος",
            SpecificCharacterSet="ISO_IR 192",
            StudyDescription="Μελέτη",
        ),
        "G1/Unknown Study/OT/OT000000.dcm",
    ),
    "one_letter_modality": (
        dict(
            patient_id="P1",
            PatientName="One^Char",
            Modality="m",
            AccessionNumber="A1",
            StudyDescription="d\\e",
        ),
        "P1 One Char/A1 de/m/M0000000.dcm",
    ),
    "slashes": (
        dict(
            patient_id="a/b\\c",
            PatientName="x/y",
            StudyDescription="../../etc",
            SeriesDescription="..",
            Modality="CT",
        ),
        "abc xy/....etc/CT ../CT000000.dcm",
    ),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that only read."""
    process = ServerProcess(tmp_path_factory.mktemp("archive") / "data", FAST_ENV)
    yield process
    process.stop()


@pytest.fixture
def http(shared: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared.url, timeout=60) as client:
        yield client


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that delete or disconnect."""
    process = ServerProcess(tmp_path / "data", FAST_ENV)
    yield process
    process.stop()


def upload(client: httpx.Client, body: bytes) -> dict:
    response = client.post("/instances", content=body)
    assert response.status_code == 200, response.text
    return response.json()


def open_zip(response: httpx.Response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


def unique_uid(name: str) -> str:
    return "1.2.826.0.1.3680043.10.1234." + str(
        int.from_bytes(name.encode()[:12], "big")
    )


# -- layout ---------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")
@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_archive_layout_as_orthanc(http: httpx.Client, case: str) -> None:
    elements, expected = LAYOUT_CASES[case]
    elements = dict(elements)
    patient_id = elements.pop("patient_id")
    study = upload(http, make_dicom(patient_id, unique_uid(case), **elements))[
        "ParentStudy"
    ]
    with open_zip(http.get(f"/studies/{study}/archive")) as archive:
        assert archive.namelist() == [expected]


def test_archive_member_is_deflated(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    with open_zip(http.get(f"/studies/{study}/archive")) as archive:
        assert archive.infolist()[0].compress_type == zipfile.ZIP_DEFLATED


def test_archive_headers(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.get(f"/studies/{study}/archive")
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'filename="{study}.zip"'
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers


def test_archive_files_equal_file_route(http: httpx.Client) -> None:
    names = ["CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "JPEG2000.dcm"]
    answers = [upload(http, pydicom_file(name).read_bytes()) for name in names]
    response = http.post(
        "/tools/create-archive", json={"Resources": [a["ID"] for a in answers]}
    )
    with open_zip(response) as archive:
        contents = sorted(archive.read(name) for name in archive.namelist())
    expected = sorted(http.get(f"/instances/{a['ID']}/file").content for a in answers)
    assert contents == expected


def test_instances_keep_insertion_order(http: httpx.Client) -> None:
    study_uid, series_uid = unique_uid("order"), unique_uid("order") + ".1"
    numbers = [5, 3, 1, 4, 2]
    for number in numbers:
        upload(
            http,
            make_dicom(
                "ORDER",
                study_uid,
                series_uid,
                sop_uid=f"{series_uid}.{number}",
                InstanceNumber=str(number),
            ),
        )
    study = upload(
        http, make_dicom("ORDER", study_uid, series_uid, sop_uid=f"{series_uid}.5")
    )
    with open_zip(http.get(f"/studies/{study['ParentStudy']}/archive")) as archive:
        uids = [
            pydicom.dcmread(io.BytesIO(archive.read(n))).SOPInstanceUID
            for n in archive.namelist()
        ]
    assert uids == [f"{series_uid}.{number}" for number in numbers]


def test_same_series_names_get_suffix(http: httpx.Client) -> None:
    study_uid = unique_uid("dup")
    for index in range(2):
        answer = upload(
            http,
            make_dicom(
                "DUP", study_uid, f"{study_uid}.{index}", SeriesDescription="Same"
            ),
        )
    with open_zip(http.get(f"/studies/{answer['ParentStudy']}/archive")) as archive:
        folders = sorted(name.split("/")[2] for name in archive.namelist())
    assert folders == ["OT Same", "OT Same-2"]


def test_patient_studies_sorted_by_id(http: httpx.Client) -> None:
    studies = [
        upload(
            http, make_dicom("SORT", unique_uid(f"sort{n}"), AccessionNumber=f"A{n}")
        )
        for n in range(3)
    ]
    patient = studies[0]["ParentPatient"]
    with open_zip(http.get(f"/patients/{patient}/archive")) as archive:
        accessions = [name.split("/")[1] for name in archive.namelist()]
    by_id = sorted(studies, key=lambda answer: answer["ParentStudy"])
    assert accessions == [f"A{studies.index(answer)}" for answer in by_id]


def test_shared_patient_id_uses_study_name(http: httpx.Client) -> None:
    upload(http, make_dicom("COMMON", unique_uid("hello"), PatientName="HELLO"))
    world = upload(http, make_dicom("COMMON", unique_uid("world"), PatientName="WORLD"))
    with open_zip(http.get(f"/studies/{world['ParentStudy']}/archive")) as archive:
        assert archive.namelist()[0].startswith("COMMON WORLD/")


def test_series_archive(http: httpx.Client) -> None:
    answer = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    with open_zip(http.get(f"/series/{answer['ParentSeries']}/archive")) as archive:
        assert archive.namelist() == ["1CT1 CompressedSamples CT1/e1/CT/CT000000.dcm"]


def test_post_archive_equals_get(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    with open_zip(http.post(f"/studies/{study}/archive", json={})) as archive:
        posted = archive.namelist()
    with open_zip(http.get(f"/studies/{study}/archive")) as archive:
        assert posted == archive.namelist()


def test_filename_argument(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.get(f"/studies/{study}/archive", params={"filename": "ct.zip"})
    assert response.headers["content-disposition"] == 'filename="ct.zip"'


def test_filename_non_ascii(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.get(f"/studies/{study}/archive", params={"filename": "étude.zip"})
    assert response.headers["content-disposition"].endswith(
        "filename*=UTF-8''%C3%A9tude.zip"
    )


def test_filename_with_quote_rejected(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.get(f"/studies/{study}/archive", params={"filename": 'a".zip'})
    assert response.status_code == 400
    assert "Invalid filename" in response.json()["Details"]


# -- tools ----------------------------------------------------------------


def test_create_archive_mixed_levels(http: httpx.Client) -> None:
    ct = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    mr = upload(http, pydicom_file("MR_small.dcm").read_bytes())
    body = {"Resources": [ct["ParentPatient"], ct["ID"], mr["ParentSeries"]]}
    response = http.post("/tools/create-archive", json=body)
    assert response.headers["content-disposition"] == 'filename="Archive.zip"'
    with open_zip(response) as archive:
        assert len(archive.namelist()) == 2


def test_create_archive_get_form(http: httpx.Client) -> None:
    ct = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    mr = upload(http, pydicom_file("MR_small.dcm").read_bytes())
    resources = f"{ct['ParentStudy']},{mr['ParentStudy']}"
    with open_zip(
        http.get("/tools/create-archive", params={"resources": resources})
    ) as archive:
        assert len(archive.namelist()) == 2


def test_create_archive_empty_list(http: httpx.Client) -> None:
    with open_zip(
        http.post("/tools/create-archive", json={"Resources": []})
    ) as archive:
        assert archive.namelist() == []


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (b'{"Foo": 1}', "Missing field Resources in the JSON body"),
        (b"not json", "The body must be a JSON object"),
        (b'{"Resources": "abc"}', '"Resources" must be a list'),
    ],
)
def test_create_archive_bad_body(http: httpx.Client, body: bytes, details: str) -> None:
    response = http.post("/tools/create-archive", content=body)
    assert response.status_code == 400
    assert response.json()["Details"].startswith(details)


def test_create_archive_get_without_resources(http: httpx.Client) -> None:
    response = http.get("/tools/create-media")
    assert response.status_code == 400
    assert "resources" in response.json()["Details"]


def test_create_archive_unknown_resource(http: httpx.Client) -> None:
    response = http.post("/tools/create-archive", json={"Resources": ["nope"]})
    assert response.status_code == 404
    assert response.json()["OrthancStatus"] == 17


# -- errors ---------------------------------------------------------------


def test_unknown_study_404(http: httpx.Client) -> None:
    unknown = "00000000-00000000-00000000-00000000-00000000"
    response = http.get(f"/studies/{unknown}/archive")
    assert response.status_code == 404
    assert response.json()["Message"] == "Unknown resource"


def test_instance_archive_404(http: httpx.Client) -> None:
    answer = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    assert http.get(f"/instances/{answer['ID']}/archive").status_code == 404


def test_transcode_rejected(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.get(
        f"/studies/{study}/archive", params={"transcode": "1.2.840.10008.1.2"}
    )
    assert response.status_code == 400
    assert "not supported" in response.json()["Details"]


def test_asynchronous_not_implemented(http: httpx.Client) -> None:
    study = upload(http, pydicom_file("CT_small.dcm").read_bytes())["ParentStudy"]
    response = http.post(f"/studies/{study}/archive", json={"Asynchronous": True})
    assert response.status_code == 500
    assert response.json()["OrthancStatus"] == 2


# -- media ----------------------------------------------------------------


def extract_media(response: httpx.Response, folder: Path) -> list[str]:
    with open_zip(response) as archive:
        archive.extractall(folder)
        return archive.namelist()


def test_media_names_and_dicomdir_last(http: httpx.Client, tmp_path: Path) -> None:
    study_uid = unique_uid("media")
    for index in range(3):
        study = upload(http, make_dicom("MEDIA", study_uid, f"{study_uid}.{index % 2}"))
    names = extract_media(http.get(f"/studies/{study['ParentStudy']}/media"), tmp_path)
    assert names == ["IMAGES/IM0", "IMAGES/IM1", "IMAGES/IM2", "DICOMDIR"]


def test_media_read_by_pydicom(http: httpx.Client, tmp_path: Path) -> None:
    answer = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    extract_media(http.get(f"/studies/{answer['ParentStudy']}/media"), tmp_path)
    file_set = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    [instance] = list(file_set)
    assert (
        instance.SOPInstanceUID
        == pydicom.dcmread(pydicom_file("CT_small.dcm")).SOPInstanceUID
    )
    assert instance.PatientID == "1CT1"


def test_media_files_equal_file_route(http: httpx.Client, tmp_path: Path) -> None:
    answer = upload(http, pydicom_file("CT_small.dcm").read_bytes())
    extract_media(http.get(f"/series/{answer['ParentSeries']}/media"), tmp_path)
    assert (tmp_path / "IMAGES" / "IM0").read_bytes() == http.get(
        f"/instances/{answer['ID']}/file"
    ).content


def test_media_without_patient_id(http: httpx.Client, tmp_path: Path) -> None:
    answer = upload(http, make_dicom(None, unique_uid("nopid"), PatientName="No^Id"))
    names = extract_media(http.get(f"/series/{answer['ParentSeries']}/media"), tmp_path)
    assert names == ["IMAGES/IM0", "DICOMDIR"]
    patient = pydicom.dcmread(tmp_path / "DICOMDIR").DirectoryRecordSequence[0]
    assert patient.PatientID == ""
    assert str(patient.PatientName) == "No^Id"


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk is not installed")
def test_media_charsets_read_by_dcmdump(http: httpx.Client, tmp_path: Path) -> None:
    files = ["chrGerm.dcm", "chrGreek.dcm", "chrH31.dcm"]
    answers = [
        upload(http, Path(get_charset_files(name)[0]).read_bytes()) for name in files
    ]
    response = http.post(
        "/tools/create-media", json={"Resources": [a["ParentStudy"] for a in answers]}
    )
    assert len(extract_media(response, tmp_path)) == 4
    result = subprocess.run(
        ["dcmdump", "-q", str(tmp_path / "DICOMDIR")], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    names = {
        str(r.PatientName)
        for r in pydicom.dcmread(tmp_path / "DICOMDIR").DirectoryRecordSequence
        if r.DirectoryRecordType == "PATIENT"
    }
    expected = {
        str(pydicom.dcmread(get_charset_files(n)[0]).PatientName) for n in files
    }
    assert names == expected


def test_media_extended(http: httpx.Client, tmp_path: Path) -> None:
    answer = upload(
        http, make_dicom("EXT", unique_uid("ext"), SeriesDescription="Axial")
    )
    extract_media(
        http.get(f"/studies/{answer['ParentStudy']}/media?extended"), tmp_path
    )
    series = pydicom.dcmread(tmp_path / "DICOMDIR").DirectoryRecordSequence[2]
    assert series.SeriesDescription == "Axial"


# -- streaming ------------------------------------------------------------

# Size of each synthetic instance of the streaming tests.
BIG_INSTANCE_SIZE = 2 << 20
BIG_INSTANCE_COUNT = 16


def upload_big_study(client: httpx.Client) -> str:
    study_uid = unique_uid("big")
    for _ in range(BIG_INSTANCE_COUNT):
        answer = upload(
            client,
            make_dicom(
                "BIG",
                study_uid,
                study_uid + ".1",
                EncapsulatedDocument=os.urandom(BIG_INSTANCE_SIZE),
            ),
        )
    return answer["ParentStudy"]


def open_storage_files(server: ServerProcess) -> list[str]:
    storage = str((server.data / "storage").resolve())
    found = []
    for pid in server.pids():
        for entry in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = str(entry.readlink())
            except OSError:
                continue
            if target.startswith(storage):
                found.append(target)
    return found


def test_disconnect_closes_files(own_server: ServerProcess) -> None:
    with httpx.Client(base_url=own_server.url, timeout=60) as client:
        study = upload_big_study(client)
        with client.stream("GET", f"/studies/{study}/archive") as response:
            first = next(response.iter_raw())
            assert first.startswith(b"PK\x03\x04")
        deadline = time.monotonic() + 10
        while open_storage_files(own_server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert open_storage_files(own_server) == []
        assert client.get("/system").status_code == 200
    while "stopped after" not in own_server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "stopped after" in own_server.log()


def test_delete_while_streaming(own_server: ServerProcess) -> None:
    with httpx.Client(base_url=own_server.url, timeout=60) as client:
        study = upload_big_study(client)
        with client.stream("GET", f"/studies/{study}/archive") as response:
            raw = response.iter_raw()
            chunks = [next(raw)]
            assert client.delete(f"/studies/{study}").status_code == 200
            chunks.extend(raw)
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        # The socket buffers hold a few megabytes, far less than the study.
        assert len(archive.namelist()) < BIG_INSTANCE_COUNT
    log = own_server.log()
    assert "out of an archive" in log
    assert "Traceback" not in log


def test_first_byte_before_end(own_server: ServerProcess) -> None:
    with httpx.Client(base_url=own_server.url, timeout=60) as client:
        study = upload_big_study(client)
        started = time.monotonic()
        with client.stream("GET", f"/studies/{study}/archive") as response:
            raw = response.iter_raw()
            total = len(next(raw))
            first_byte = time.monotonic() - started
            total += sum(len(chunk) for chunk in raw)
    # A generous bound: the test machine may be busy, and the whole study
    # takes several times longer.
    assert first_byte < 2.0
    assert total > BIG_INSTANCE_COUNT * BIG_INSTANCE_SIZE // 2
