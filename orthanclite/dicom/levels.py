"""The four resource levels of the DICOM model of the real world."""

from __future__ import annotations

import enum


class Level(enum.IntEnum):
    """Resource level, ordered from the patient down to the instance."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    INSTANCE = 3

    @property
    def type_name(self) -> str:
        """Name used in JSON responses (``Type``): Patient, Study, Series, Instance."""
        return self.name.capitalize()

    @property
    def plural(self) -> str:
        """First segment of the REST routes of this level (``patients``, ...)."""
        return _PLURALS[self]

    @property
    def children_key(self) -> str:
        """Key listing the children in a resource response (``Studies``, ...)."""
        return _CHILDREN_KEYS[self]

    @property
    def parent_key(self) -> str:
        """Key naming the parent in a resource response (``ParentPatient``, ...)."""
        return "Parent" + Level(self - 1).type_name

    @classmethod
    def from_plural(cls, plural: str) -> Level:
        return _FROM_PLURAL[plural]

    @classmethod
    def from_name(cls, name: str) -> Level:
        """Parse a level name in any case (``study``, ``Study``, ``STUDY``)."""
        return cls[name.upper()]


_PLURALS = {
    Level.PATIENT: "patients",
    Level.STUDY: "studies",
    Level.SERIES: "series",
    Level.INSTANCE: "instances",
}
_FROM_PLURAL = {plural: level for level, plural in _PLURALS.items()}
_CHILDREN_KEYS = {
    Level.PATIENT: "Studies",
    Level.STUDY: "Series",
    Level.SERIES: "Instances",
}
