"""Names and VRs of DICOM tags, as Orthanc shows them in ``/tags``.

Orthanc names each element after the DCMTK data dictionary: the keyword of
a standard tag (``RETIRED_`` before retired ones), the name given by DCMTK's
private dictionary for a private tag of a creator listed there, and
``Unknown Tag & Data`` otherwise. When DCMTK's dictionary files
(``dicom.dic`` and ``private.dic``) are installed, they are read here so that
the names match Orthanc's exactly. Without them, pydicom's dictionaries give
the names: standard keywords are the same, private names often differ.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom._private_dict import private_dictionaries
from pydicom.datadict import DicomDictionary, RepeatersDictionary, mask_match

logger = logging.getLogger(__name__)

UNKNOWN_NAME = "Unknown Tag & Data"
# Names that Orthanc gives to main tags in place of the dictionary's: DCMTK
# 3.6.4 and later name (0010,1000) RETIRED_OtherPatientIDs.
MAIN_TAG_NAMES = {0x00101000: "OtherPatientIDs"}
DICTIONARY_FILES = ("dicom.dic", "private.dic")
# Install folders of DCMTK's dictionaries on Debian and Ubuntu (libdcmtkNN).
DCMTK_FOLDERS = ("/usr/share/libdcmtk*", "/usr/local/share/dcmtk*", "/usr/share/dcmtk*")

# One tag pattern of a DCMTK dictionary line: a group or group range, an
# optional quoted private creator, then an element or element range.
_TAG_PATTERN = re.compile(
    r"^\((?P<group>[0-9A-Fa-f]{4})"
    r"(?:-(?:(?P<group_kind>[ou])-)?(?P<group_end>[0-9A-Fa-f]{4}))?,"
    r"(?:\"(?P<creator>[^\"]*)\",)?"
    r"(?P<element>[0-9A-Fa-f]{2,4})"
    r"(?:-(?:(?P<element_kind>[ou])-)?(?P<element_end>[0-9A-Fa-f]{2,4}))?\)$"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One dictionary entry: its VR (DCMTK spelling) and its name."""

    vr: str
    name: str


@dataclass(frozen=True, slots=True)
class _RangeEntry:
    group: tuple[int, int, str]
    element: tuple[int, int, str]
    entry: Entry

    def matches(self, group: int, element: int) -> bool:
        return _in_range(group, self.group) and _in_range(element, self.element)


def _in_range(value: int, bounds: tuple[int, int, str]) -> bool:
    low, high, kind = bounds
    if not low <= value <= high:
        return False
    if kind == "o":
        return value % 2 == 1
    if kind == "u":
        return True
    return (value - low) % 2 == 0 if kind == "e" else True


@dataclass(slots=True)
class TagDictionary:
    """Standard and private tag names and VRs."""

    source: str = "pydicom"
    standard: dict[int, Entry] = field(default_factory=dict)
    standard_ranges: list[_RangeEntry] = field(default_factory=list)
    # (creator, group, low byte of the element) for a fixed group.
    private: dict[tuple[str, int, int], Entry] = field(default_factory=dict)
    private_ranges: dict[str, list[_RangeEntry]] = field(default_factory=dict)

    def standard_entry(self, tag: int) -> Entry | None:
        """Return the entry of a standard (even group) tag, or None."""
        entry = self.standard.get(tag)
        if entry is not None:
            return entry
        group, element = tag >> 16, tag & 0xFFFF
        for candidate in self.standard_ranges:
            if candidate.matches(group, element):
                return candidate.entry
        return None

    def private_entry(self, tag: int, creator: str) -> Entry | None:
        """Return the entry of a private tag reserved by ``creator``, or None."""
        group, element = tag >> 16, tag & 0xFFFF
        entry = self.private.get((creator, group, element & 0xFF))
        if entry is not None:
            return entry
        for candidate in self.private_ranges.get(creator, ()):
            if candidate.matches(group, element & 0xFF) or candidate.matches(
                group, element
            ):
                return candidate.entry
        return None


def tag_name(dictionary: TagDictionary, tag: int, creator: str | None) -> str:
    """Return the name Orthanc shows for ``tag`` (``creator`` for private tags)."""
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1:
        if element == 0:
            return "PrivateGroupLength" if group > 7 else "IllegalGroupLength"
        if 0x10 <= element <= 0xFF:
            return "PrivateCreator" if group > 7 else "IllegalPrivateCreator"
        if creator is not None:
            entry = dictionary.private_entry(tag, creator)
            if entry is not None:
                return entry.name
        return UNKNOWN_NAME
    if tag in MAIN_TAG_NAMES:
        return MAIN_TAG_NAMES[tag]
    entry = dictionary.standard_entry(tag)
    if entry is not None:
        return entry.name
    if element == 0:
        return "GenericGroupLength"
    return UNKNOWN_NAME


def private_vr(dictionary: TagDictionary, tag: int, creator: str | None) -> str | None:
    """Return the VR of a private tag from the dictionary (implicit VR files)."""
    if creator is None:
        return None
    entry = dictionary.private_entry(tag, creator)
    return entry.vr if entry is not None else None


def _parse_line(line: str) -> tuple[re.Match[str], Entry] | None:
    if not line.strip() or line.startswith("#"):
        return None
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 3:
        return None
    match = _TAG_PATTERN.match(fields[0].strip())
    if match is None:
        return None
    # DCMTK drops the blanks of a name ("End NumberForBaseline" in 3.6.7).
    name = "".join(fields[2].split())
    return match, Entry(vr=fields[1].strip(), name=name)


def _bounds(start: str, kind: str | None, end: str | None) -> tuple[int, int, str]:
    low = int(start, 16)
    if end is None:
        return low, low, ""
    # "-o-" allows odd values only, "-u-" any value, a plain "-" even values.
    return low, int(end, 16), kind or "e"


def _read_dictionary_file(dictionary: TagDictionary, path: Path) -> None:
    with open(path, encoding="latin_1") as lines:
        for line in lines:
            parsed = _parse_line(line)
            if parsed is None:
                continue
            match, entry = parsed
            group = _bounds(match["group"], match["group_kind"], match["group_end"])
            element = _bounds(
                match["element"], match["element_kind"], match["element_end"]
            )
            creator = match["creator"]
            if creator is not None:
                if group[2] or element[2]:
                    ranges = dictionary.private_ranges.setdefault(creator, [])
                    ranges.append(_RangeEntry(group, element, entry))
                else:
                    dictionary.private[(creator, group[0], element[0] & 0xFF)] = entry
            elif group[2] or element[2]:
                dictionary.standard_ranges.append(_RangeEntry(group, element, entry))
            else:
                dictionary.standard[group[0] << 16 | element[0]] = entry


def find_dcmtk_files(folder: Path | None = None) -> list[Path]:
    """Locate DCMTK's ``dicom.dic`` and ``private.dic``.

    ``folder`` is searched first, then the files named by ``DCMDICTPATH``,
    then the folders where Linux distributions install DCMTK.
    """
    candidates: list[Path] = []
    if folder is not None:
        candidates += [folder / name for name in DICTIONARY_FILES]
    for item in os.environ.get("DCMDICTPATH", "").split(os.pathsep):
        if item.endswith(DICTIONARY_FILES):
            candidates.append(Path(item))
    for pattern in DCMTK_FOLDERS:
        for found in sorted(glob.glob(pattern), reverse=True):
            candidates += [Path(found) / name for name in DICTIONARY_FILES]
    chosen: dict[str, Path] = {}
    for path in candidates:
        if path.name not in chosen and path.is_file():
            chosen[path.name] = path
    return [chosen[name] for name in DICTIONARY_FILES if name in chosen]


def _camel_case(description: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", description)
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _pydicom_dictionary() -> TagDictionary:
    dictionary = TagDictionary(source="pydicom")
    for tag, (vr, _vm, _name, retired, keyword) in DicomDictionary.items():
        if not keyword:
            continue
        name = f"RETIRED_{keyword}" if retired else keyword
        dictionary.standard[tag] = Entry(vr=vr, name=name)
    for mask, (vr, _vm, _name, retired, keyword) in RepeatersDictionary.items():
        name = f"RETIRED_{keyword}" if retired else keyword
        dictionary.standard_ranges.append(_MaskEntry(mask, Entry(vr=vr, name=name)))  # type: ignore[arg-type]
    for creator, entries in private_dictionaries.items():
        for key, (vr, _vm, description, _retired) in entries.items():
            group_text, element_text = key[:4], key[-2:]
            if "x" in group_text.lower() or "x" in element_text.lower():
                continue
            entry = Entry(vr=vr, name=_camel_case(description) or UNKNOWN_NAME)
            dictionary.private[
                (creator, int(group_text, 16), int(element_text, 16))
            ] = entry
    return dictionary


@dataclass(frozen=True, slots=True)
class _MaskEntry:
    """A pydicom repeater such as ``60xx3000``, used like a range entry."""

    mask: str
    entry: Entry

    def matches(self, group: int, element: int) -> bool:
        return bool(mask_match(group << 16 | element) == self.mask)


def load_dictionary(files: Iterable[Path]) -> TagDictionary:
    """Build the dictionary from DCMTK files, or from pydicom when there are none."""
    files = list(files)
    if not files:
        return _pydicom_dictionary()
    dictionary = TagDictionary(source=", ".join(str(path) for path in files))
    for path in files:
        _read_dictionary_file(dictionary, path)
    return dictionary


@functools.cache
def default_dictionary(folder: str | None = None) -> TagDictionary:
    """Return the dictionary found on this machine, loaded once per process."""
    files = find_dcmtk_files(Path(folder) if folder else None)
    dictionary = load_dictionary(files)
    if files:
        logger.info(
            "DICOM tag names read from DCMTK's dictionary: %s", dictionary.source
        )
    else:
        logger.info(
            "DCMTK's dictionary files were not found; private tag names come from "
            "pydicom and may differ from Orthanc's"
        )
    return dictionary
