"""A DICOM dataset as Orthanc's three JSON forms: full, short and simplified.

The full form (``/tags``) maps ``"gggg,eeee"`` to ``{"Name", "Type",
"Value"}`` where Type is ``String``, ``Sequence``, ``Null`` (binary values)
or ``TooLong`` (values longer than 256 bytes). The short form (``?short``)
keeps only the values, the simplified form (``?simplify``) uses the names
as keys. Functions here are pure: a pydicom dataset in, JSON values out.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Sequence
from typing import Any

from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR as pydicom_dictionary_vr
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from orthanclite.dicom.charset import python_encodings
from orthanclite.dicom.dictionary import TagDictionary, private_vr, tag_name
from orthanclite.dicom.values import ASCII_VRS, TEXT_VRS

# Orthanc shows values longer than this many bytes as "TooLong".
MAX_STRING_LENGTH = 256
SPECIFIC_CHARACTER_SET = 0x00080005
STRING_VRS = TEXT_VRS | ASCII_VRS
# DCMTK's spellings of ambiguous dictionary VRs (US or SS, OB or OW, ...).
AMBIGUOUS_VRS = frozenset({"xs", "ox", "lt", "px", "up", "na"})
PIXEL_REPRESENTATION = 0x00280103
# US or SS elements that DCMTK reads as SS when Pixel Representation is 1:
# smallest and largest pixel values, and pixel padding.
PIXEL_VALUE_TAGS = frozenset(
    {0x00280106, 0x00280107, 0x00280108, 0x00280109, 0x00280110, 0x00280111,
     0x00280120, 0x00280121}
)  # fmt: skip
# Binary numbers: struct format of one value, per VR.
NUMBER_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "L",
    "SL": "l",
    "UV": "Q",
    "SV": "q",
    "FL": "f",
    "FD": "d",
    "AT": "HH",
}

Element = RawDataElement | DataElement


def tag_key(tag: int, separator: str = ",") -> str:
    """Format a tag as Orthanc's JSON key, ``gggg,eeee`` in lowercase hex."""
    return f"{tag >> 16:04x}{separator}{tag & 0xFFFF:04x}"


def dataset_encodings(
    dataset: Dataset, inherited: list[str], default_encoding: str
) -> list[str]:
    """Return the codecs of a dataset's Specific Character Set, else ``inherited``."""
    element = dataset.get_item(SPECIFIC_CHARACTER_SET)
    if element is None:
        return inherited
    terms = charset_terms(element)
    if not terms:
        return inherited
    return python_encodings(terms, default_encoding)


def charset_terms(element: Element) -> list[str]:
    """Return the terms of a Specific Character Set element, empty ones included."""
    value = element.value
    if isinstance(value, bytes):
        text = value.decode("latin_1").rstrip(" \x00")
        return [term.strip() for term in text.split("\\")] if text else []
    if isinstance(value, str):
        return [value]
    return [str(term) for term in value] if value else []


def resolve_vr(
    element: Element,
    creator: str | None,
    dictionary: TagDictionary,
    pixel_representation: int = 0,
) -> str:
    """Return the VR of an element as Orthanc reads it through DCMTK.

    Implicit VR files carry no VR: standard tags take the dictionary's VR,
    private tags the one of DCMTK's private dictionary for their creator,
    else UN. Ambiguous dictionary VRs (US or SS, OB or OW) stay binary,
    except pixel value tags, which follow Pixel Representation. An explicit
    UN element is read as text when the dictionary gives the tag a string VR,
    and stays binary otherwise.
    """
    vr = element.VR
    if not vr:
        vr = dictionary_vr(int(element.tag), creator, dictionary) or "UN"
    elif vr == "UN":
        known = dictionary_vr(int(element.tag), creator, dictionary)
        vr = known if known in STRING_VRS else "UN"
    vr = str(vr)
    if " or " in vr or vr in AMBIGUOUS_VRS:
        if int(element.tag) in PIXEL_VALUE_TAGS:
            return "SS" if pixel_representation == 1 else "US"
        return "UN"
    return vr


def dictionary_vr(
    tag: int, creator: str | None, dictionary: TagDictionary
) -> str | None:
    """Return the VR the dictionaries give to a tag, or None if unknown."""
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1:
        if element == 0:
            return "UL"
        if element <= 0xFF:
            return "LO" if element >= 0x10 else None
        return private_vr(dictionary, tag, creator)
    entry = dictionary.standard_entry(tag)
    if entry is not None:
        return entry.vr
    try:
        return str(pydicom_dictionary_vr(tag))
    except KeyError:
        return "UL" if element == 0 else None


def _format_float(value: float) -> str:
    text = f"{value:.17g}"
    if "e" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def number_text(raw: bytes, vr: str, little_endian: bool) -> str:
    """Print the binary numbers of a value as DCMTK does, joined with ``\\``."""
    fmt = NUMBER_FORMATS[vr]
    size = struct.calcsize("<" + fmt)
    count = len(raw) // size
    if count == 0:
        return ""
    order = "<" if little_endian else ">"
    values = struct.unpack(f"{order}{fmt * count}", raw[: count * size])
    if vr == "AT":
        # Orthanc 1.10.1 shows the first tag of a multi-valued AT only.
        return f"{values[0]:04x},{values[1]:04x}"
    if vr in ("FL", "FD"):
        return "\\".join(_format_float(value) for value in values)
    return "\\".join(str(value) for value in values)


def decode_string(
    raw: bytes, vr: str, encodings: Sequence[str], padding: bytes = b"\x00 "
) -> str:
    """Decode a string value with the character set, without its trailing padding."""
    raw = raw.rstrip(padding) if vr != "UI" else raw.rstrip(b"\x00")
    if not raw:
        return ""
    if vr in TEXT_VRS:
        delimiters = (
            {0x5C, 0x5E, 0x3D} if vr == "PN" else {0x5C, 0x0A, 0x0C, 0x0D, 0x09}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = decode_bytes(raw, list(encodings), delimiters)
    else:
        text = raw.decode("latin_1")
    return text.rstrip(padding.decode("latin_1"))


def raw_value(element: Element, little_endian: bool = True) -> bytes:
    """Return the bytes of a non-sequence element, in the file's byte order.

    Elements that pydicom already converted (such as Specific Character Set)
    are encoded again from their value.
    """
    value = element.value
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    vr = str(element.VR or "")
    if vr in NUMBER_FORMATS and vr != "AT":
        order = "<" if little_endian else ">"
        return struct.pack(f"{order}{NUMBER_FORMATS[vr] * len(items)}", *items)
    text = "\\".join(_original_text(item) for item in items)
    return text.encode("latin_1", "replace")


def _original_text(item: Any) -> str:
    original = getattr(item, "original_string", None)
    if isinstance(original, str):
        return original
    return str(item)


class JsonConverter:
    """Converts datasets to Orthanc's full JSON form.

    ``little_endian`` is the byte order of the dataset's binary numbers.
    """

    def __init__(
        self, dictionary: TagDictionary, default_encoding: str, little_endian: bool
    ) -> None:
        self.dictionary = dictionary
        self.default_encoding = default_encoding
        self.little_endian = little_endian

    def convert(
        self,
        dataset: Dataset,
        encodings: list[str] | None = None,
        pixel_representation: int = 0,
    ) -> dict[str, Any]:
        """Return the full form of every element of ``dataset``.

        Items of sequences inherit the character set and Pixel Representation
        of the dataset that contains them, unless they declare their own.
        """
        if encodings is None:
            encodings = python_encodings(None, self.default_encoding)
        encodings = dataset_encodings(dataset, encodings, self.default_encoding)
        pixel_representation = self._pixel_representation(dataset, pixel_representation)
        creators = private_creators(dataset, encodings)
        answer: dict[str, Any] = {}
        for tag in sorted(dataset._dict):
            element = dataset.get_item(tag)
            if element is None or (tag >> 16) == 0xFFFE:
                continue
            answer[tag_key(tag)] = self.convert_element(
                element, creators, encodings, pixel_representation
            )
        return answer

    def convert_element(
        self,
        element: Element,
        creators: dict[tuple[int, int], str],
        encodings: list[str],
        pixel_representation: int,
    ) -> dict[str, Any]:
        tag = int(element.tag)
        creator = element_creator(tag, creators)
        answer: dict[str, Any] = {"Name": tag_name(self.dictionary, tag, creator)}
        if isinstance(element.value, DicomSequence):
            # Orthanc names the private creator of leaf elements only.
            answer["Type"] = "Sequence"
            answer["Value"] = [
                self.convert(item, encodings, pixel_representation)
                for item in element.value
            ]
            return answer

        vr = resolve_vr(element, creator, self.dictionary, pixel_representation)
        if creator is not None:
            answer["PrivateCreator"] = creator

        text = self.element_text(element, vr, encodings)
        if text is None:
            answer["Type"], answer["Value"] = "Null", None
        elif isinstance(text, int):
            answer["Type"], answer["Value"] = "TooLong", None
        else:
            answer["Type"], answer["Value"] = "String", text
        return answer

    def element_text(
        self, element: Element, vr: str, encodings: list[str]
    ) -> str | int | None:
        """Return the text of a value, None if binary, or its length if too long."""
        if vr not in STRING_VRS and vr not in NUMBER_FORMATS:
            return None
        if vr in NUMBER_FORMATS:
            raw = raw_value(element, self.little_endian)
            # DCMTK has no text for an empty binary number.
            if not raw:
                return None
            text = number_text(raw, vr, self.little_endian)
            return len(text) if len(text) > MAX_STRING_LENGTH else text
        length = _value_length(element)
        if length > MAX_STRING_LENGTH:
            return length
        raw = raw_value(element, self.little_endian)
        # DCMTK keeps the trailing spaces of elements sent as UN.
        padding = b"\x00" if element.VR == "UN" else b"\x00 "
        return decode_string(raw, vr, encodings, padding)

    def _pixel_representation(self, dataset: Dataset, inherited: int) -> int:
        element = dataset.get_item(PIXEL_REPRESENTATION)
        if element is None:
            return inherited
        raw = raw_value(element, self.little_endian)
        if len(raw) < 2:
            return inherited
        return int(struct.unpack("<H" if self.little_endian else ">H", raw[:2])[0])


def _value_length(element: Element) -> int:
    if isinstance(element, RawDataElement):
        return int(element.length)
    value = element.value
    return len(value) if isinstance(value, bytes | str) else 0


def private_creators(
    dataset: Dataset, encodings: list[str]
) -> dict[tuple[int, int], str]:
    """Return the private creators of a dataset by (group, reserved block)."""
    creators: dict[tuple[int, int], str] = {}
    for tag in dataset._dict:
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 1 and 0x10 <= element <= 0xFF:
            item = dataset.get_item(tag)
            # DCMTK does not take a creator sent as UN into account.
            if (
                item is not None
                and item.VR != "UN"
                and not isinstance(item.value, DicomSequence)
            ):
                creators[(group, element)] = decode_string(
                    raw_value(item), "LO", encodings
                )
    return creators


def element_creator(tag: int, creators: dict[tuple[int, int], str]) -> str | None:
    """Return the private creator that reserves ``tag``, if any."""
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 0 or element < 0x1000:
        return None
    return creators.get((group, element >> 8))


def simplify(full: dict[str, Any]) -> dict[str, Any]:
    """Turn the full form into the simplified one: names as keys, values only."""
    answer: dict[str, Any] = {}
    for entry in full.values():
        answer[entry["Name"]] = _simple_value(entry, simplify)
    return answer


def shorten(full: dict[str, Any]) -> dict[str, Any]:
    """Turn the full form into the short one: tags as keys, values only."""
    return {key: _simple_value(entry, shorten) for key, entry in full.items()}


def _simple_value(entry: dict[str, Any], convert: Any) -> Any:
    if entry["Type"] == "Sequence":
        return [convert(item) for item in entry["Value"]]
    return entry["Value"]


def format_tags(full: dict[str, Any], simplified: bool, short: bool) -> dict[str, Any]:
    """Return the form asked by ``?simplify`` or ``?short`` (simplify wins)."""
    if simplified:
        return simplify(full)
    if short:
        return shorten(full)
    return full
