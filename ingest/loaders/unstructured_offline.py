"""Import unstructured with telemetry off and its NLP heuristics running offline.

unstructured 0.27 classifies text (title vs narrative) with spaCy's ``en_core_web_sm``,
which it downloads from GitHub on first use (``unstructured.nlp.tokenize._get_nlp``);
offline, every partition call that reaches those heuristics fails. The only callers in the
partitioners we use are ``sent_tokenize``, ``word_tokenize`` and ``pos_tag``, imported by
name into ``unstructured.partition.text_type``. Before unstructured is imported, a stand-in
``unstructured.nlp.tokenize`` module with small regex equivalents of those three takes the
real one's place, and its model installer raises, so no code path can reach the network.
spaCy itself is then never imported, nor thinc and torch through it (2 to 3 s that
``kb parse`` and every ingest of an Office, HTML or Markdown file used to spend). Telemetry
is switched off through the documented ``DO_NOT_TRACK`` / ``SCARF_NO_ANALYTICS`` variables
before the first import.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from functools import lru_cache
from types import ModuleType

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”»)]*\s+(?=[\"'“«(]?[A-ZÀ-ÖØ-ÞĀ-ſА-ЯΑ-Ω0-9])")
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)
# Frequent English verb forms; enough for unstructured's "does it contain a verb" check.
_VERBS = frozenset(
    """am is are was were be been being has have had having do does did done can could may
    might must shall should will would need needs make makes made take takes took give gives
    gave get gets got go goes went use uses used help helps helped provide provides provided
    include includes included support supports supported work works worked show shows showed
    set sets run runs ran see sees saw say says said know knows knew find finds found allow
    allows allowed become becomes became remain remains remained describe describes described
    offer offers offered create creates created bring brings brought keep keeps kept lead leads
    led mean means meant seem seems seemed""".split()  # noqa: SIM905
)


def _sent_tokenize(text: str) -> list[str]:
    parts = _SENTENCE_END.split(str(text).strip())
    return [p for p in parts if p.strip()]


def _word_tokenize(text: str) -> list[str]:
    return _TOKEN.findall(str(text))


def _pos_tag(text: str) -> list[tuple[str, str]]:
    """Tag verbs by word list and suffix; everything else is a noun (``NN``)."""
    tags = []
    for token in _word_tokenize(text):
        low = token.lower()
        verb = low in _VERBS or (len(low) > 4 and low.endswith(("ed", "ing", "ise", "ize", "ises", "izes")))
        tags.append((token, "VB" if verb else "NN"))
    return tags


def _no_download() -> None:
    raise RuntimeError("spaCy model download is disabled: ingest runs offline")


def _offline_tokenize() -> ModuleType:
    """The stand-in for ``unstructured.nlp.tokenize``: the names unstructured imports, without spaCy."""
    module = ModuleType("unstructured.nlp.tokenize")
    module.sent_tokenize = _sent_tokenize  # type: ignore[attr-defined]
    module.word_tokenize = _word_tokenize  # type: ignore[attr-defined]
    module.pos_tag = _pos_tag  # type: ignore[attr-defined]
    module._install_spacy_model = _no_download  # type: ignore[attr-defined]
    return module


@lru_cache(maxsize=1)
def unstructured_partition() -> ModuleType:
    """Import unstructured offline and return its ``unstructured.partition`` package.

    Raises:
        ImportError: unstructured is not installed; the message names the package extra.
    """
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    try:
        import unstructured.nlp  # noqa: F401  # the package alone: its tokenize module is the stand-in

        sys.modules.setdefault("unstructured.nlp.tokenize", _offline_tokenize())
        import unstructured.nlp.tokenize as tokenize
        import unstructured.partition as partition
        import unstructured.partition.text_type as text_type
    except ImportError as exc:
        raise ImportError("DOCX, PPTX, HTML, Markdown and email need unstructured[docx,pptx,md]==0.27.35") from exc
    for module in (tokenize, text_type):
        module.sent_tokenize = _sent_tokenize  # type: ignore[attr-defined]
        module.word_tokenize = _word_tokenize  # type: ignore[attr-defined]
        module.pos_tag = _pos_tag  # type: ignore[attr-defined]
    tokenize._install_spacy_model = _no_download
    logger.debug("unstructured patched for offline use")
    return partition
