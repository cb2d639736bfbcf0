"""Normalization of identifying values for case- and accent-insensitive lookup."""

from __future__ import annotations

import unicodedata


def normalize_identifier(value: str) -> str:
    """Upper-case ``value`` and strip its accents (``Müller`` → ``MULLER``)."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.upper()
