"""Character sets: Specific Character Set and Orthanc's default encoding.

Orthanc's ``DefaultEncoding`` names the character set assumed for files that
have no Specific Character Set (0008,0005). Its default is ``Latin1``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

from pydicom.charset import convert_encodings

logger = logging.getLogger(__name__)

# Orthanc's encoding names and the Python codecs that decode them.
DEFAULT_ENCODINGS: dict[str, str] = {
    "Ascii": "ascii",
    "Utf8": "utf_8",
    "Latin1": "latin_1",
    "Latin2": "iso8859_2",
    "Latin3": "iso8859_3",
    "Latin4": "iso8859_4",
    "Latin5": "iso8859_9",
    "Cyrillic": "iso8859_5",
    "Windows1251": "cp1251",
    "Arabic": "iso8859_6",
    "Greek": "iso8859_7",
    "Hebrew": "iso8859_8",
    "Thai": "iso8859_11",
    "Japanese": "shift_jis",
    "Chinese": "gb18030",
    "JapaneseKanji": "iso2022_jp",
    "Korean": "euc_kr",
    "SimplifiedChinese": "gb2312",
}

_warned_charsets: set[str] = set()


def python_encodings(
    specific_character_set: str | Sequence[str] | None, default_encoding: str = "Latin1"
) -> list[str]:
    """Return the Python codecs for a Specific Character Set value.

    An absent or empty value means Orthanc's ``default_encoding``. An unknown
    term is decoded with the default codec and logged once as a warning, so a
    mislabelled file never fails a request.
    """
    if not specific_character_set or specific_character_set == [""]:
        return [DEFAULT_ENCODINGS.get(default_encoding, "latin_1")]

    terms = (
        [specific_character_set]
        if isinstance(specific_character_set, str)
        else list(specific_character_set)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            encodings = convert_encodings(terms)
        except LookupError:
            encodings = [DEFAULT_ENCODINGS.get(default_encoding, "latin_1")]
    if caught:
        key = "\\".join(terms)
        if key not in _warned_charsets:
            _warned_charsets.add(key)
            logger.warning(
                "Unusual Specific Character Set %r: %s", key, caught[0].message
            )
    return encodings
