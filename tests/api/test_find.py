"""POST /tools/find and /tools/lookup over HTTP: a table of queries per level."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom

# Four studies, one series and one instance each. "D" is Latin-1 encoded,
# "C" has an empty StudyDate and "D" none at all.
ARCHIVE = {
    "A": dict(
        patient_id="FIND-1",
        PatientName="Müller^Hans",
        SpecificCharacterSet="ISO_IR 192",
        PatientSex="F",
        PatientAge="040Y",
        StudyDate="20120315",
        StudyTime="101010",
        AccessionNumber="ACC0",
        StudyDescription="Chest CT",
        Modality="CT",
        StationName="SMR4-MP3",
        InstanceNumber="1",
    ),
    "B": dict(
        patient_id="FIND-2",
        PatientName="muller^hans",
        PatientAge="065Y",
        StudyDate="20121231",
        StudyTime="153000",
        AccessionNumber="ACC1",
        StudyDescription="Head MR",
        Modality="MR",
    ),
    "C": dict(
        patient_id="100%_A.B[1]",
        PatientName="O'Brien^Pat",
        PatientSex="M",
        StudyDate="",
        StudyDescription="100%_x",
        Modality="OT",
    ),
    "D": dict(
        patient_id="FIND-3",
        PatientName="Test-éüäöò",
        SpecificCharacterSet="ISO_IR 100",
        AccessionNumber="acc2",
        Modality="CT",
    ),
}


@pytest.fixture(scope="module")
def archive(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, dict]]:
    """A server holding ARCHIVE; yields a client and the IDs of each entry."""
    server = ServerProcess(tmp_path_factory.mktemp("find") / "data")
    ids: dict[str, dict[str, str]] = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for name, elements in ARCHIVE.items():
            elements = dict(elements)
            sop_uid = f"1.2.826.0.1.3680043.8.498.99.{ord(name)}"
            body = make_dicom(elements.pop("patient_id"), sop_uid=sop_uid, **elements)
            answer = client.post("/instances", content=body).json()
            ids[name] = {
                "Patient": answer["ParentPatient"],
                "Study": answer["ParentStudy"],
                "Series": answer["ParentSeries"],
                "Instance": answer["ID"],
                "SOPInstanceUID": sop_uid,
            }
        yield client, ids
    server.stop()


def find(
    client: httpx.Client, level: str, query: dict, **options: object
) -> httpx.Response:
    return client.post("/tools/find", json={"Level": level, "Query": query, **options})


# (level, query, options, names of the ARCHIVE entries expected, in order)
CASES = [
    ("Study", {"PatientID": "FIND-1"}, {}, "A"),
    ("Study", {"PatientID": "find-1"}, {}, "A"),
    ("Study", {"PatientID": "find-1"}, {"CaseSensitive": True}, ""),
    ("Study", {"PatientID": "FIND-*"}, {}, "ABD"),
    ("Study", {"PatientID": "FIND-?"}, {}, "ABD"),
    ("Study", {"PatientID": "FIND-1\\find-3"}, {}, "AD"),
    ("Study", {"PatientID": "100%_A.B[1]"}, {}, "C"),
    ("Study", {"PatientID": "100%"}, {}, ""),
    ("Study", {"PatientID": "100*"}, {}, "C"),
    ("Study", {"PatientID": "1_0*"}, {}, ""),
    ("Study", {"PatientID": ""}, {}, "ABCD"),
    ("Study", {"PatientName": "muller*"}, {}, "AB"),
    ("Study", {"PatientName": "MÜLLER^HANS"}, {}, "AB"),
    ("Study", {"PatientName": "Müller^Hans"}, {"CaseSensitive": True}, "A"),
    ("Study", {"PatientName": "O'Brien*"}, {}, "C"),
    ("Study", {"PatientName": "TeSt-É*"}, {}, "D"),
    ("Study", {"PatientName": "TeSt-a*"}, {}, ""),
    ("Study", {"PatientName": "Test-ÉÜÄÖÒ\\nope"}, {}, "D"),
    ("Study", {"PatientName": "TeSt*"}, {"CaseSensitive": True}, ""),
    ("Study", {"StudyDate": "20120315"}, {}, "A"),
    ("Study", {"StudyDate": "20120101-20121231"}, {}, "AB"),
    ("Study", {"StudyDate": "-20120401"}, {}, "AC"),
    ("Study", {"StudyDate": "20121201-"}, {}, "B"),
    ("Study", {"StudyDate": "20120315\\20121231"}, {}, "AB"),
    ("Study", {"StudyDate": ""}, {}, "ABCD"),
    ("Study", {"StudyDate": "2012"}, {}, ""),
    ("Study", {"StudyTime": "100000-110000"}, {}, "A"),
    ("Study", {"AccessionNumber": "acc0"}, {}, "A"),
    ("Study", {"AccessionNumber": "ACC2"}, {}, "D"),
    ("Study", {"AccessionNumber": "acc0"}, {"CaseSensitive": True}, ""),
    ("Study", {"StudyDescription": "chest ct"}, {}, "A"),
    ("Study", {"StudyDescription": "*CT"}, {}, "A"),
    ("Study", {"StudyDescription": "100%_x"}, {}, "C"),
    ("Study", {"StudyDescription": "100%_*"}, {}, "C"),
    ("Study", {"Modality": "CT"}, {}, ""),
    ("Study", {"PatientAge": "040Y"}, {}, "A"),
    ("Study", {"PatientAge": "040Y", "PatientID": "FIND-2"}, {}, ""),
    ("Study", {"0010,0020": "FIND-1"}, {}, "A"),
    ("Study", {"0010-0020": "FIND-1"}, {}, "A"),
    ("Study", {}, {"Since": 1, "Limit": 2}, "BC"),
    ("Study", {}, {"Since": 3}, "D"),
    ("Study", {"PatientID": "FIND*"}, {"Limit": 1}, "A"),
    ("Study", {"PatientAge": "065Y"}, {"Limit": 1}, "B"),
    ("Patient", {"PatientSex": ""}, {}, "ABCD"),
    ("Patient", {"PatientSex": "f"}, {}, "A"),
    ("Patient", {"PatientSex": "*"}, {}, "AC"),
    ("Patient", {"StudyDescription": "Chest CT"}, {}, ""),
    ("Patient", {"PatientName": "*brien*"}, {}, "C"),
    ("Series", {"Modality": "ct"}, {}, "AD"),
    ("Series", {"Modality": "CT\\MR"}, {}, "ABD"),
    ("Series", {"StationName": "SMR4-MP3"}, {}, "A"),
    ("Series", {"PatientID": "FIND-2"}, {}, "B"),
    ("Series", {"Modality": "CT", "StudyDate": "-20121231"}, {}, "A"),
    ("Series", {"SOPInstanceUID": "1.2.826.0.1.3680043.8.498.99.65"}, {}, ""),
    ("Instance", {"SOPInstanceUID": "1.2.826.0.1.3680043.8.498.99.65"}, {}, "A"),
    ("Instance", {"InstanceNumber": "1"}, {}, "A"),
    ("Instance", {"PatientAge": "065Y"}, {}, "B"),
    ("Instance", {"AccessionNumber": "acc*"}, {}, "ABD"),
    ("instance", {"Modality": "MR"}, {}, "B"),
]


@pytest.mark.parametrize(
    ("level", "query", "options", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES],
)
def test_find_case(
    archive: tuple[httpx.Client, dict],
    level: str,
    query: dict,
    options: dict,
    expected: str,
) -> None:
    client, ids = archive
    response = find(client, level, query, **options)
    assert response.status_code == 200, response.text
    assert response.json() == [ids[name][level.capitalize()] for name in expected]


def test_find_expand_study(archive: tuple[httpx.Client, dict]) -> None:
    client, ids = archive
    answer = find(client, "Study", {"PatientID": "FIND-1"}, Expand=True).json()
    assert len(answer) == 1
    assert answer[0]["ID"] == ids["A"]["Study"]
    assert answer[0]["MainDicomTags"]["AccessionNumber"] == "ACC0"
    assert answer[0]["PatientMainDicomTags"]["PatientName"] == "Müller^Hans"
    assert answer[0]["Type"] == "Study"


def test_find_expand_full(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    answer = find(
        client, "Study", {"PatientID": "FIND-1"}, Expand=True, Full=True
    ).json()
    assert answer[0]["MainDicomTags"]["0008,0050"] == {
        "Name": "AccessionNumber",
        "Type": "String",
        "Value": "ACC0",
    }


def test_find_expand_short(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    answer = find(
        client, "Study", {"PatientID": "FIND-1"}, Expand=True, Short=True
    ).json()
    assert answer[0]["MainDicomTags"]["0008,0050"] == "ACC0"
    assert answer[0]["PatientMainDicomTags"]["0010,0020"] == "FIND-1"


def test_find_requested_tags(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    answer = find(
        client,
        "Study",
        {"PatientID": "FIND-1"},
        Expand=True,
        RequestedTags=["PatientName", "AccessionNumber", "PatientAge", "Manufacturer"],
    ).json()
    assert answer[0]["RequestedTags"] == {
        "AccessionNumber": "ACC0",
        "PatientAge": "040Y",
        "PatientName": "Müller^Hans",
    }


# (body, HTTP status, OrthancStatus, Details)
BAD_BODIES = [
    (b"{not json", 400, 8, "The body must contain a JSON object"),
    (b"[]", 400, 8, "The body must contain a JSON object"),
    (b'{"Query": {}}', 400, 8, 'Field "Level" is missing, or should be a string'),
    (
        b'{"Level": "Study"}',
        400,
        8,
        'Field "Query" is missing, or should be a JSON object',
    ),
    (
        b'{"Level": "Study", "Query": []}',
        400,
        8,
        'Field "Query" is missing, or should be a JSON object',
    ),
    (b'{"Level": "Foo", "Query": {}}', 400, 3, None),
    (
        b'{"Level": "Study", "Query": {"PatientID": 1}}',
        400,
        8,
        'Tag "PatientID" should be associated with a string',
    ),
    (b'{"Level": "Study", "Query": {"NoSuchTag": "x"}}', 400, 27, None),
    (
        b'{"Level": "Study", "Query": {"StudyInstanceUID": "1.2*"}}',
        400,
        3,
        "Wildcards are not allowed on tag 0020,000d",
    ),
    (
        b'{"Level": "Study", "Query": {"StudyDate": "*"}}',
        400,
        3,
        "Wildcards are not allowed on tag 0008,0020",
    ),
    (
        b'{"Level": "Series", "Query": {"SeriesNumber": "1*"}}',
        400,
        3,
        "Wildcards are not allowed on tag 0020,0011",
    ),
    (
        b'{"Level": "Study", "Query": {}, "Limit": "x"}',
        400,
        8,
        'Field "Limit" should be an integer',
    ),
    (
        b'{"Level": "Study", "Query": {}, "Limit": -1}',
        400,
        3,
        'Field "Limit" should be a positive integer',
    ),
    (
        b'{"Level": "Study", "Query": {}, "Since": -1}',
        400,
        3,
        'Field "Since" should be a positive integer',
    ),
    (
        b'{"Level": "Study", "Query": {}, "CaseSensitive": "x"}',
        400,
        8,
        'Field "CaseSensitive" should be a Boolean',
    ),
    (
        b'{"Level": "Study", "Query": {}, "Expand": 1}',
        400,
        8,
        'Field "Expand" should be a Boolean',
    ),
    (
        b'{"Level": "Study", "Query": {}, "Labels": ["a b"]}',
        400,
        3,
        None,
    ),
    (
        b'{"Level": "Study", "Query": {}, "LabelsConstraint": "Some"}',
        400,
        3,
        None,
    ),
]


@pytest.mark.parametrize(("body", "status", "orthanc_status", "details"), BAD_BODIES)
def test_find_rejects_body(
    archive: tuple[httpx.Client, dict],
    body: bytes,
    status: int,
    orthanc_status: int,
    details: str | None,
) -> None:
    client, _ = archive
    response = client.post("/tools/find", content=body)
    assert response.status_code == status
    assert response.json()["OrthancStatus"] == orthanc_status
    if details is not None:
        assert response.json()["Details"] == details


def test_find_get_not_allowed(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    response = client.get("/tools/find")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("value", "expected_type", "name"),
    [
        ("FIND-1", "Patient", "A"),
        ("find-1", "Patient", "A"),
        ("  find-2\n", "Patient", "B"),
        ("1.2.826.0.1.3680043.8.498.99.65", "Instance", "A"),
    ],
)
def test_lookup_finds_resource(
    archive: tuple[httpx.Client, dict], value: str, expected_type: str, name: str
) -> None:
    client, ids = archive
    answer = client.post("/tools/lookup", content=value.encode()).json()
    public_id = ids[name][expected_type]
    plural = {"Patient": "patients", "Instance": "instances"}[expected_type]
    assert answer == [
        {"ID": public_id, "Path": f"/{plural}/{public_id}", "Type": expected_type}
    ]


def test_lookup_study_uid(archive: tuple[httpx.Client, dict]) -> None:
    client, ids = archive
    study = client.get(f"/studies/{ids['B']['Study']}").json()
    uid = study["MainDicomTags"]["StudyInstanceUID"]
    answer = client.post("/tools/lookup", content=uid.lower()).json()
    assert [item["ID"] for item in answer] == [ids["B"]["Study"]]
    assert answer[0]["Type"] == "Study"


@pytest.mark.parametrize("value", ["", "NOPE", "ACC0"])
def test_lookup_unknown_is_empty(
    archive: tuple[httpx.Client, dict], value: str
) -> None:
    client, _ = archive
    assert client.post("/tools/lookup", content=value.encode()).json() == []


def test_find_same_patient_id_two_names(client: httpx.Client) -> None:
    """Patient tags match the study's own copy, as in Orthanc."""
    hello = client.post(
        "/instances", content=make_dicom("COMMON", PatientName="HELLO")
    ).json()
    world = client.post(
        "/instances", content=make_dicom("COMMON", PatientName="WORLD")
    ).json()
    assert find(client, "Study", {"PatientName": "WORLD"}).json() == [
        world["ParentStudy"]
    ]
    assert find(client, "Study", {"PatientName": "hello"}).json() == [
        hello["ParentStudy"]
    ]
    assert find(client, "Patient", {"PatientName": "WORLD"}).json() == []


def test_find_after_delete(client: httpx.Client) -> None:
    answer = client.post("/instances", content=make_dicom("GONE")).json()
    client.delete(f"/patients/{answer['ParentPatient']}")
    assert find(client, "Study", {"PatientID": "GONE"}).json() == []
    assert client.post("/tools/lookup", content=b"GONE").json() == []


def test_find_file_tags_stop_at_limit(client: httpx.Client) -> None:
    for index in range(5):
        client.post("/instances", content=make_dicom(f"P{index}", PatientAge="030Y"))
    found = find(client, "Instance", {"PatientAge": "030Y"}, Limit=2).json()
    assert len(found) == 2


def test_find_requested_computed_tags(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    answer = find(
        client,
        "Study",
        {"PatientID": "FIND-1"},
        Expand=True,
        RequestedTags=["ModalitiesInStudy", "NumberOfStudyRelatedInstances"],
    ).json()
    assert answer[0]["RequestedTags"] == {
        "ModalitiesInStudy": "CT",
        "NumberOfStudyRelatedInstances": "1",
    }


def test_requested_tags_on_resource(archive: tuple[httpx.Client, dict]) -> None:
    client, ids = archive
    answer = client.get(
        f"/series/{ids['A']['Series']}?requestedTags=PatientID;StudyDate;PatientAge"
    ).json()
    assert answer["RequestedTags"] == {
        "PatientAge": "040Y",
        "PatientID": "FIND-1",
        "StudyDate": "20120315",
    }


def test_requested_tags_on_expanded_list(archive: tuple[httpx.Client, dict]) -> None:
    client, _ = archive
    answer = client.get(
        "/patients?expand&requestedTags=NumberOfPatientRelatedInstances"
    ).json()
    assert [item["RequestedTags"] for item in answer] == [
        {"NumberOfPatientRelatedInstances": "1"}
    ] * 4


def test_requested_tags_ignored_on_id_list(archive: tuple[httpx.Client, dict]) -> None:
    client, ids = archive
    answer = client.get("/patients?requestedTags=PatientID").json()
    assert answer == [ids[name]["Patient"] for name in "ABCD"]
