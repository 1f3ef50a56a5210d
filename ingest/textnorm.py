"""Accent folding, written once: "Szwecją" and "szwecja", "Hrušková" and "hruskova" compare equal."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` case-folded, without diacritics (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
