"""Text form of DICOM element values, as Orthanc shows them in JSON.

String values are decoded from the raw bytes with the dataset's character
set and lose their trailing padding (spaces and NUL), but keep leading
spaces and their original spelling (``"0005"`` stays ``"0005"``). Values of
several items are joined with ``\\``. Binary numbers are printed in decimal.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

# Value representations whose text depends on the Specific Character Set.
TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "PN", "UC"})
# Value representations stored as (ASCII) text without a character set.
ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
STRING_VRS = TEXT_VRS | ASCII_VRS
BINARY_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})

_BACKSLASH = 0x5C
# Delimiters at which ISO 2022 escape sequences are reset (PS3.5 6.1.2.5.3).
_TEXT_DELIMITERS = {_BACKSLASH, 0x0A, 0x0C, 0x0D, 0x09}
_PN_DELIMITERS = {_BACKSLASH, 0x5E, 0x3D}


def element_vr(element: RawDataElement | DataElement) -> str:
    """Return the VR of an element, from the dictionary for implicit VR files."""
    vr = element.VR
    # Standard elements sent as UN (explicit VR) are read with their own VR,
    # as DCMTK does for Orthanc.
    if vr and vr != "UN" and " or " not in vr:
        return str(vr)
    try:
        vr = dictionary_VR(element.tag)
    except KeyError:
        return str(vr) if vr else "UN"
    if " or " in vr:
        # Ambiguous VRs of pixel-related tags: the text form is the same.
        return vr.split(" or ")[0]
    return vr


def decode_text(
    raw: bytes, vr: str, encodings: Sequence[str], padding: bytes = b"\x00 "
) -> str:
    """Decode the bytes of a string element and strip its trailing ``padding``."""
    raw = raw.rstrip(padding)
    if not raw:
        return ""
    if vr in TEXT_VRS:
        delimiters = _PN_DELIMITERS if vr == "PN" else _TEXT_DELIMITERS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = decode_bytes(raw, list(encodings), delimiters)
    else:
        text = raw.decode("latin_1")
    return text.rstrip(padding.decode("latin_1"))


def format_number(value: Any) -> str:
    """Print one binary number as DCMTK does for Orthanc (ints in decimal)."""
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, BaseTag):
        return f"{value.group:04x},{value.element:04x}"
    return str(value)


def element_string(
    element: RawDataElement | DataElement, encodings: Sequence[str]
) -> str | None:
    """Return the text of a string or binary-number element, or None if binary.

    Sequences and binary values (OB, OW, UN, ...) have no text form.
    """
    vr = element_vr(element)
    if isinstance(element, RawDataElement):
        if vr in STRING_VRS:
            # DCMTK keeps the trailing spaces of standard elements sent as UN,
            # and Orthanc's identifiers depend on them.
            padding = b"\x00" if element.VR == "UN" else b"\x00 "
            return decode_text(element.value or b"", vr, encodings, padding)
        if vr not in BINARY_NUMBER_VRS:
            return None
        element = convert_raw_data_element(element, encoding=list(encodings))

    value = element.value
    if vr in STRING_VRS:
        if value is None:
            return ""
        items = value if isinstance(value, MultiValue | list | tuple) else [value]
        text = "\\".join(_original_text(item) for item in items)
        return text.rstrip("\x00 ")
    if vr in BINARY_NUMBER_VRS:
        if value is None:
            return ""
        items = value if isinstance(value, MultiValue | list | tuple) else [value]
        return "\\".join(format_number(item) for item in items)
    return None


def _original_text(item: Any) -> str:
    original = getattr(item, "original_string", None)
    if isinstance(original, str):
        return original
    return str(item)
