"""Matching of DICOM values against /tools/find patterns, as Orthanc does.

A pattern is a list of alternatives separated by ``\\``. Each alternative is
an exact value, a wildcard pattern (``*`` any run of characters, ``?`` one
character) or, for dates and times, a range ``A-B``, ``-B`` or ``A-``.
Matching is case-insensitive unless asked otherwise, and person names also
ignore accents then.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from pydicom.datadict import dictionary_VR

# VRs on which PS3.4 C.2.2.2.4 allows wildcard matching; Orthanc rejects
# wildcards on the others (UIDs, dates, numbers, ages) with a 400. UN covers
# private tags, whose VR the dictionary does not know.
WILDCARD_VRS = frozenset(
    {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"}
)
# VRs on which a hyphen is a range operator; elsewhere it is a literal.
RANGE_VRS = frozenset({"DA", "DT", "TM"})


class InvalidPattern(ValueError):
    """A pattern that Orthanc rejects, such as a wildcard on a UID."""


def strip_accents(value: str) -> str:
    """Remove the combining marks of ``value`` (``Müller`` → ``Muller``)."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def tag_vr(tag: int) -> str:
    """Return the dictionary VR of a tag; ambiguous VRs give their first choice."""
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"


def fold_case(vr: str, value: str) -> str:
    """Normalize a value for case-insensitive matching.

    Every value is upper-cased; person names also lose their accents, so
    that ``muller`` matches ``Müller``.
    """
    if vr == "PN":
        value = strip_accents(value)
    return value.upper()


@dataclass(frozen=True, slots=True)
class Alternative:
    """One ``\\``-separated part of a pattern."""

    kind: str  # "equal", "wildcard" or "range"
    text: str = ""
    low: str = ""
    high: str = ""

    @property
    def prefix(self) -> str:
        """Return the literal start of a wildcard pattern."""
        return re.split(r"[*?]", self.text, maxsplit=1)[0]


@dataclass(frozen=True, slots=True)
class ValuePattern:
    """A parsed pattern of one tag; ``alternatives`` are in folded case if asked."""

    tag: int
    vr: str
    alternatives: tuple[Alternative, ...]
    case_sensitive: bool

    def matches(self, value: str | None) -> bool:
        """Tell whether a stored value (None when absent) matches."""
        if value is None:
            return False
        if not self.case_sensitive:
            value = fold_case(self.vr, value)
        return any(_matches(alternative, value) for alternative in self.alternatives)


# Alternatives separated by "\\" in one value: each becomes one SQL condition,
# and SQLite refuses expressions nested more than 1,000 deep.
MAX_ALTERNATIVES = 256


def parse_pattern(tag: int, pattern: str, case_sensitive: bool) -> ValuePattern | None:
    """Parse a /tools/find pattern; return None for ``""``, which matches anything.

    Raises InvalidPattern for a wildcard on a tag whose VR does not allow it.
    """
    if pattern == "":
        return None
    vr = tag_vr(tag)
    if not case_sensitive:
        pattern = fold_case(vr, pattern)
    parts = pattern.split("\\")
    if len(parts) > MAX_ALTERNATIVES:
        raise InvalidPattern(
            f"Too many alternatives ({len(parts)}) for one tag; at most {MAX_ALTERNATIVES}"
        )
    alternatives = []
    for part in parts:
        if vr in RANGE_VRS and "-" in part:
            low, _, high = part.partition("-")
            alternatives.append(
                Alternative("range", low=low.strip(), high=high.strip())
            )
        elif "*" in part or "?" in part:
            if vr not in WILDCARD_VRS:
                tag_text = f"{tag >> 16:04x},{tag & 0xFFFF:04x}"
                raise InvalidPattern(f"Wildcards are not allowed on tag {tag_text}")
            alternatives.append(Alternative("wildcard", text=part))
        else:
            alternatives.append(Alternative("equal", text=part))
    return ValuePattern(tag, vr, tuple(alternatives), case_sensitive)


def _matches(alternative: Alternative, value: str) -> bool:
    if alternative.kind == "equal":
        return value == alternative.text
    if alternative.kind == "range":
        if alternative.low and value < alternative.low:
            return False
        return not (alternative.high and value > alternative.high)
    return _wildcard_regex(alternative.text).fullmatch(value) is not None


@cache
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)
