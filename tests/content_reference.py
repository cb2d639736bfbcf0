"""Responses of Orthanc 1.10.1 to the content routes, recorded for the tests.

``python -m tests.content_reference URL`` uploads every test file to the
server at URL (a real Orthanc 1.10.1 on loopback), records ``/tags`` in its
three forms, ``/header`` and every ``/content`` path (raw values as length
and SHA-1 prefix), deletes the instance, and writes the result to
``tests/data/orthanc_content.json.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
from pydicom.data import get_testdata_file

from tests.content_helpers import SYNTHETIC_FILES

REFERENCE_PATH = Path(__file__).parent / "data" / "orthanc_content.json.gz"
PYDICOM_DATA = Path(pydicom.__file__).parent / "data"
# Sequences nested deeper than this are not walked by /content.
MAX_CONTENT_DEPTH = 6


def reference_files() -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of pydicom's test and charset files and synthetic files."""
    folders = [PYDICOM_DATA / "test_files", PYDICOM_DATA / "charset_files"]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (
                path.suffix == ".dcm" or path.parent.name != folder.name
            ):
                yield f"pydicom/{path.relative_to(PYDICOM_DATA)}", path.read_bytes()
    extra = get_testdata_file("693_J2KR.dcm", download=False)
    if extra is not None:
        for path in sorted(Path(extra).parent.glob("*.dcm")):
            yield f"pydicom-data/{path.name}", path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in SYNTHETIC_FILES.items():
            yield f"synthetic/{name}", build()


def digest(body: bytes) -> list[object]:
    return ["bytes", len(body), hashlib.sha1(body).hexdigest()[:12]]


def walk_content(
    client: httpx.Client, base: str, path: str, out: dict, depth: int = 0
) -> None:
    response = client.get(f"{base}/content{path}")
    if response.status_code != 200:
        out[path or "/"] = response.status_code
        return
    if not response.headers.get("content-type", "").startswith("application/json"):
        out[path or "/"] = digest(response.content)
        return
    children = response.json()
    out[path or "/"] = children
    if depth < MAX_CONTENT_DEPTH:
        for child in children:
            walk_content(client, base, f"{path}/{child}", out, depth + 1)


def record_file(client: httpx.Client, body: bytes) -> dict | None:
    """Upload one file, record its content routes and delete it again."""
    upload = client.post("/instances", content=body)
    if upload.status_code != 200:
        return None
    base = f"/instances/{upload.json()['ID']}"
    entry: dict = {}
    for key, route in (
        ("tags", "/tags"),
        ("simplify", "/tags?simplify"),
        ("short", "/tags?short"),
        ("header", "/header"),
    ):
        entry[key] = client.get(base + route).json()
    entry["content"] = {}
    walk_content(client, base, "", entry["content"])
    client.delete(base)
    return entry


def main(url: str) -> None:
    result = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, body in reference_files():
            entry = record_file(client, body)
            if entry is not None:
                result[name] = entry
    text = json.dumps(result, sort_keys=True, separators=(",", ":"))
    REFERENCE_PATH.write_bytes(gzip.compress(text.encode(), 9, mtime=0))
    print(f"{len(result)} files recorded in {REFERENCE_PATH}")


def load_reference() -> dict:
    return json.loads(gzip.decompress(REFERENCE_PATH.read_bytes()))


if __name__ == "__main__":
    main(sys.argv[1])
