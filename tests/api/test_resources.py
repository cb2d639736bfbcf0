"""Browsing, downloading and deleting over HTTP."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import httpx

from tests.helpers import ServerProcess, make_dicom, pydicom_file


def upload(client: httpx.Client, body: bytes) -> dict:
    response = client.post("/instances", content=body)
    assert response.status_code == 200, response.text
    return response.json()


def make_study(client: httpx.Client, patient_id: str = "PAT", series: int = 2, per_series: int = 2) -> list[dict]:
    """Upload one study of several series and return the upload results in order."""
    study_uid = f"1.2.3.{sum(map(ord, patient_id))}"
    answers = []
    for s in range(series):
        for i in range(per_series):
            answers.append(
                upload(
                    client,
                    make_dicom(
                        patient_id=patient_id,
                        study_uid=study_uid,
                        series_uid=f"{study_uid}.{s}",
                        sop_uid=f"{study_uid}.{s}.{i}",
                        InstanceNumber=str(i + 1),
                        StudyDescription="Chest CT",
                    ),
                )
            )
    return answers


def test_lists_in_insertion_order(client: httpx.Client) -> None:
    answers = make_study(client)
    assert client.get("/instances").json() == [a["ID"] for a in answers]
    assert client.get("/series").json() == [answers[0]["ParentSeries"], answers[2]["ParentSeries"]]
    assert client.get("/studies").json() == [answers[0]["ParentStudy"]]
    assert client.get("/patients").json() == [answers[0]["ParentPatient"]]


def test_list_paging(client: httpx.Client) -> None:
    answers = make_study(client, series=1, per_series=4)
    ids = [a["ID"] for a in answers]
    assert client.get("/instances", params={"since": 1, "limit": 2}).json() == ids[1:3]
    assert client.get("/instances", params={"since": 0, "limit": 0}).json() == []
    assert client.get("/instances", params={"since": 10, "limit": 2}).json() == []
    assert client.get("/instances", params={"since": -1, "limit": 1}).json() == ids[:1]


def test_list_paging_needs_both_arguments(client: httpx.Client) -> None:
    only_limit = client.get("/instances", params={"limit": 2})
    assert only_limit.status_code == 400
    assert only_limit.json()["Details"] == 'Missing "since" argument for GET request against: /instances/'
    only_since = client.get("/instances", params={"since": 2})
    assert only_since.status_code == 400
    assert 'Missing "limit"' in only_since.json()["Details"]


def test_list_expand(client: httpx.Client) -> None:
    answers = make_study(client, series=1, per_series=1)
    expanded = client.get("/studies", params={"expand": "false"}).json()
    assert len(expanded) == 1
    assert expanded[0]["ID"] == answers[0]["ParentStudy"]
    assert expanded[0]["Type"] == "Study"


def test_patient_shape(client: httpx.Client) -> None:
    answer = upload(client, pydicom_file("CT_small.dcm").read_bytes())
    patient = client.get(f"/patients/{answer['ParentPatient']}").json()
    assert set(patient) == {
        "ID",
        "IsStable",
        "Labels",
        "LastUpdate",
        "MainDicomTags",
        "Studies",
        "Type",
    }
    assert patient["Labels"] == []
    assert patient["Type"] == "Patient"
    assert patient["Studies"] == [answer["ParentStudy"]]
    assert patient["IsStable"] is False
    assert len(patient["LastUpdate"]) == 15
    assert patient["MainDicomTags"] == {
        "PatientBirthDate": "",
        "PatientID": "1CT1",
        "PatientName": "CompressedSamples^CT1",
        "PatientSex": "O",
    }


def test_study_shape(client: httpx.Client) -> None:
    answer = upload(client, pydicom_file("CT_small.dcm").read_bytes())
    study = client.get(f"/studies/{answer['ParentStudy']}").json()
    assert study["ParentPatient"] == answer["ParentPatient"]
    assert study["Series"] == [answer["ParentSeries"]]
    assert study["PatientMainDicomTags"]["PatientID"] == "1CT1"
    assert study["MainDicomTags"]["StudyInstanceUID"] == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert "PatientName" not in study["MainDicomTags"]


def test_series_shape(client: httpx.Client) -> None:
    answer = upload(client, pydicom_file("CT_small.dcm").read_bytes())
    series = client.get(f"/series/{answer['ParentSeries']}").json()
    assert series["ParentStudy"] == answer["ParentStudy"]
    assert series["Instances"] == [answer["ID"]]
    assert series["ExpectedNumberOfInstances"] is None
    assert series["Status"] == "Unknown"
    assert series["MainDicomTags"]["Modality"] == "CT"


def test_instance_shape(client: httpx.Client) -> None:
    body = pydicom_file("CT_small.dcm").read_bytes()
    answer = upload(client, body)
    instance = client.get(f"/instances/{answer['ID']}").json()
    assert set(instance) == {
        "FileSize",
        "FileUuid",
        "ID",
        "IndexInSeries",
        "Labels",
        "MainDicomTags",
        "ParentSeries",
        "Type",
    }
    assert instance["FileSize"] == len(body)
    assert instance["IndexInSeries"] == 1
    assert instance["MainDicomTags"]["SOPInstanceUID"].startswith("1.3.6.1.4.1.5962")


def test_labels_shown_on_resources(client: httpx.Client) -> None:
    answer = upload(client, make_dicom())
    assert client.put(f"/studies/{answer['ParentStudy']}/labels/urgent").status_code == 200
    study = client.get(f"/studies/{answer['ParentStudy']}").json()
    assert study["Labels"] == ["urgent"]
    listed = client.get("/studies", params={"expand": ""}).json()
    assert listed[0]["Labels"] == ["urgent"]


def test_orthanc_1_10_1_shapes_have_no_labels(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "data", extra_args=["--orthanc-version", "1.10.1"])
    try:
        with httpx.Client(base_url=process.url) as client:
            answer = upload(client, make_dicom())
            system = client.get("/system").json()
            assert system["Version"] == "1.10.1"
            assert system["ApiVersion"] == 16
            patient = client.get(f"/patients/{answer['ParentPatient']}").json()
            assert "Labels" not in patient
            instance = client.get(f"/instances/{answer['ID']}").json()
            assert "Labels" not in instance
    finally:
        process.stop()


def test_series_status_complete_and_missing(client: httpx.Client) -> None:
    series_uid = "1.2.3.9"
    for number in (1, 2):
        upload(
            client,
            make_dicom(
                study_uid="1.2.3",
                series_uid=series_uid,
                sop_uid=f"{series_uid}.{number}",
                InstanceNumber=str(number),
                ImagesInAcquisition="3",
                NumberOfTemporalPositions="1",
            ),
        )
    series_id = client.get("/series").json()[0]
    assert client.get(f"/series/{series_id}").json()["Status"] == "Missing"
    upload(
        client,
        make_dicom(
            study_uid="1.2.3",
            series_uid=series_uid,
            sop_uid=f"{series_uid}.3",
            InstanceNumber="3",
            ImagesInAcquisition="3",
            NumberOfTemporalPositions="1",
        ),
    )
    series = client.get(f"/series/{series_id}").json()
    assert series["ExpectedNumberOfInstances"] == 3
    assert series["Status"] == "Complete"


def test_full_main_tags(client: httpx.Client) -> None:
    answer = upload(client, pydicom_file("CT_small.dcm").read_bytes())
    study = client.get(f"/studies/{answer['ParentStudy']}", params={"full": ""}).json()
    assert study["MainDicomTags"]["0008,0020"] == {
        "Name": "StudyDate",
        "Type": "String",
        "Value": "20040119",
    }


def test_relations(client: httpx.Client) -> None:
    answers = make_study(client)
    patient, study = answers[0]["ParentPatient"], answers[0]["ParentStudy"]
    series, instance = answers[0]["ParentSeries"], answers[0]["ID"]
    all_instances = [a["ID"] for a in answers]
    assert [i["ID"] for i in client.get(f"/patients/{patient}/instances").json()] == all_instances
    assert [s["ID"] for s in client.get(f"/patients/{patient}/studies").json()] == [study]
    assert len(client.get(f"/patients/{patient}/series").json()) == 2
    assert len(client.get(f"/studies/{study}/series").json()) == 2
    assert [i["ID"] for i in client.get(f"/studies/{study}/instances").json()] == all_instances
    assert client.get(f"/studies/{study}/patient").json()["ID"] == patient
    assert len(client.get(f"/series/{series}/instances").json()) == 2
    assert client.get(f"/series/{series}/study").json()["ID"] == study
    assert client.get(f"/series/{series}/patient").json()["ID"] == patient
    assert client.get(f"/instances/{instance}/series").json()["ID"] == series
    assert client.get(f"/instances/{instance}/study").json()["ID"] == study
    assert client.get(f"/instances/{instance}/patient").json()["ID"] == patient


def test_parent_route_of_same_level_is_unknown(client: httpx.Client) -> None:
    answer = upload(client, make_dicom())
    response = client.get(f"/instances/{answer['ID']}/instance")
    assert response.status_code == 404
    assert response.json()["OrthancStatus"] == 17


def test_file_is_byte_identical(client: httpx.Client) -> None:
    body = pydicom_file("MR_small.dcm").read_bytes()
    answer = upload(client, body)
    instance = client.get(f"/instances/{answer['ID']}").json()
    response = client.get(f"/instances/{answer['ID']}/file", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom"
    assert response.headers["content-disposition"] == f'filename="{instance["FileUuid"]}.dcm"'
    assert "content-encoding" not in response.headers
    assert hashlib.md5(response.content).hexdigest() == hashlib.md5(body).hexdigest()


def test_bare_dataset_is_stored_as_part10(client: httpx.Client) -> None:
    import io

    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, dataset)
    answer = upload(client, buffer.getvalue())
    assert answer["ID"] == "f689ddd2-662f8fe1-8b18180d-ec2a2cee-937917af"
    stored = client.get(f"/instances/{answer['ID']}/file").content
    assert stored[128:132] == b"DICM"
    reread = pydicom.dcmread(io.BytesIO(stored))
    assert reread.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert reread.PixelData == dataset.PixelData


def test_delete_cascades_up(client: httpx.Client, server: ServerProcess) -> None:
    answers = make_study(client, series=2, per_series=1)
    first, second = answers
    response = client.delete(f"/instances/{first['ID']}")
    assert response.status_code == 200
    assert response.json() == {
        "RemainingAncestor": {
            "ID": first["ParentStudy"],
            "Path": f"/studies/{first['ParentStudy']}",
            "Type": "Study",
        }
    }
    assert client.get(f"/series/{first['ParentSeries']}").status_code == 404
    response = client.delete(f"/series/{second['ParentSeries']}")
    assert response.json() == {"RemainingAncestor": None}
    for level in ("patients", "studies", "series", "instances"):
        assert client.get(f"/{level}").json() == []
    assert [p for p in (server.data / "storage").rglob("*") if p.is_file()] == []


def test_delete_each_level(client: httpx.Client) -> None:
    for level, key in (
        ("patients", "ParentPatient"),
        ("studies", "ParentStudy"),
        ("series", "ParentSeries"),
        ("instances", "ID"),
    ):
        answer = upload(client, make_dicom(patient_id=f"P-{level}"))
        response = client.delete(f"/{level}/{answer[key]}")
        assert response.status_code == 200, level
        assert response.json() == {"RemainingAncestor": None}, level
        assert client.get(f"/patients/{answer['ParentPatient']}").status_code == 404, level


def test_delete_unknown_is_404(client: httpx.Client) -> None:
    response = client.delete("/studies/da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709")
    assert response.status_code == 404
    assert response.json()["OrthancStatus"] == 17


def test_reupload_after_delete(client: httpx.Client) -> None:
    body = make_dicom()
    answer = upload(client, body)
    client.delete(f"/instances/{answer['ID']}")
    assert upload(client, body)["Status"] == "Success"


def test_json_is_gzipped_when_accepted(server: ServerProcess, client: httpx.Client) -> None:
    make_study(client, series=3, per_series=3)
    with httpx.stream(
        "GET", server.url + "/instances?expand", headers={"Accept-Encoding": "gzip"}
    ) as response:
        assert response.headers["content-encoding"] == "gzip"
        compressed = b"".join(response.iter_raw())
    assert len(gzip.decompress(compressed)) > len(compressed)
    plain = httpx.get(server.url + "/instances?expand", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.json()) == 9


def test_statistics(client: httpx.Client) -> None:
    body = pydicom_file("CT_small.dcm").read_bytes()
    upload(client, body)
    upload(client, make_dicom())
    statistics = client.get("/statistics").json()
    assert statistics["CountPatients"] == 2
    assert statistics["CountStudies"] == 2
    assert statistics["CountSeries"] == 2
    assert statistics["CountInstances"] == 2
    assert isinstance(statistics["TotalDiskSize"], str)
    assert int(statistics["TotalDiskSize"]) > len(body)
    assert statistics["TotalDiskSizeMB"] == 0


def test_system(client: httpx.Client) -> None:
    system = client.get("/system").json()
    assert system["Version"] == "1.12.0"
    assert system["ApiVersion"] == 20
    assert system["DatabaseVersion"] == 6
    assert "OrthancLiteVersion" in system
