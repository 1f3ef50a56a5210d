"""BM25-style sparse vectors with language-aware analysis, scored by Qdrant's IDF modifier.

Qdrant multiplies each query weight by the matching document weight and by the term's IDF
over the collection, so documents carry BM25's term-frequency part and queries weigh 1 per
distinct term: together that is BM25.

Analysis: Unicode word tokens, lowercased, minus the language's stop words (stopwords-iso),
stemmed with the language's Snowball stemmer (PyStemmer). Languages without a Snowball
stemmer get the nearest one or truncation:

- Slovak uses the Czech stemmer (the two languages share most inflection endings).
- Croatian uses the Serbian stemmer (it stems Latin script, and the languages are close).
- Slovenian, Bulgarian, Latvian and Maltese keep the first 6 characters of each word, a
  light stemmer that works well for inflected languages where no stemmer exists.

Every token is also emitted unstemmed in a second hash namespace ("surface form": lowercased,
accents kept). That lets a Polish query match an English phrase ("Climate City Contract",
"one-stop shop", ELENA) in any document, whatever language each side was analysed in. A
query weighs surface forms at ``surface_weight`` (0.5) so stems still dominate. A query
whose language is unsure (short, or detection below ``min_confidence``) is not stemmed and
weighs its surface forms at 1, so it still matches the words as written.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import Stemmer
import stopwordsiso

from ingest.languages import LANGUAGES, detect_language
from kb.models import SparseVector

logger = logging.getLogger(__name__)

#: ISO 639-1 code -> Snowball algorithm, or ``None`` for 6-character truncation (ingest.languages).
STEMMERS: dict[str, str | None] = {lang.code: lang.stemmer for lang in LANGUAGES.values()}
# Bumped when the same text gets other sparse terms, so that unchanged files are indexed
# again: 2 analyses Turkish (Snowball) and Ukrainian (truncation), which had surface forms only.
ANALYSIS_VERSION = 2
TRUNCATE = 6

# BM25 parameters. k1 and b are the usual defaults (Robertson & Zaragoza 2009). The average
# length is fixed rather than measured so a document's vector never changes when others are
# added: chunks hold about 320 model tokens, roughly 220 words, of which about 150 remain
# after stop words.
K1 = 1.2
B = 0.75
AVG_LEN = 150.0

_WORD = re.compile(r"\w+", re.UNICODE)
_STEM_NS = "s:"
_SURFACE_NS = "w:"


def term_id(namespace: str, term: str) -> int:
    """A stable uint32 id for a term (BLAKE2b, never Python's salted ``hash``)."""
    digest = hashlib.blake2b((namespace + term).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def tokenize(text: str) -> list[str]:
    """Lowercased Unicode word tokens; single letters and pure underscores are dropped."""
    return [t for t in _WORD.findall(text.lower()) if len(t) > 1 and t.strip("_")]


def _to_vector(weights: dict[int, float]) -> SparseVector:
    ids = sorted(weights)
    return SparseVector(indices=ids, values=[float(weights[i]) for i in ids])


class SparseEncoder:
    """Turns documents and queries into sparse vectors; thread-safe."""

    def __init__(
        self,
        k1: float = K1,
        b: float = B,
        avg_len: float = AVG_LEN,
        surface_weight: float = 0.5,
        min_confidence: float = 0.6,
        min_query_tokens: int = 2,
    ) -> None:
        """Keep the parameters; the language model and stemmers load on first use.

        Args:
            k1: BM25 term-frequency saturation.
            b: BM25 length normalisation.
            avg_len: the fixed average document length in content tokens.
            surface_weight: query weight of surface forms when the language is known
                (0 turns surface forms off for queries).
            min_confidence: detection probability below which a query's language is unsure.
            min_query_tokens: queries with fewer word tokens are never stemmed.
        """
        self.k1, self.b, self.avg_len = k1, b, avg_len
        self.surface_weight = surface_weight
        self.min_confidence = min_confidence
        self.min_query_tokens = min_query_tokens
        self._local = threading.local()
        self._stop: dict[str, frozenset[str]] = {}

    # -- language --------------------------------------------------------------------------

    def detect_language(self, text: str) -> str | None:
        """The text's language among the supported ones (:mod:`ingest.languages`), or ``None`` when unsure."""
        return detect_language(text, min_confidence=self.min_confidence, min_words=self.min_query_tokens)

    def _stopwords(self, language: str | None) -> frozenset[str]:
        key = language or ""
        if key not in self._stop:
            words: set[str] = set()
            for lang in (language, "en"):
                if lang and stopwordsiso.has_lang(lang):
                    words |= {w.lower() for w in stopwordsiso.stopwords(lang)}
            self._stop[key] = frozenset(words)
        return self._stop[key]

    def _stem(self, language: str | None, tokens: list[str]) -> list[str]:
        if language is None:
            return tokens
        algorithm = STEMMERS.get(language)
        if algorithm is None:
            return [t[:TRUNCATE] for t in tokens]
        # PyStemmer objects are not thread-safe: one per thread and algorithm.
        cache: dict[str, Any] = self._local.__dict__.setdefault("stemmers", {})
        stemmer = cache.get(algorithm)
        if stemmer is None:
            stemmer = cache[algorithm] = Stemmer.Stemmer(algorithm)
        return list(stemmer.stemWords(tokens))

    def analyze(self, text: str, language: str | None) -> tuple[list[str], list[str]]:
        """Stems and surface forms of the content words of ``text``.

        Stop words of ``language`` and of English are removed from both (English ones because
        English phrases occur in every language here). With no language, nothing is stemmed.
        """
        stop = self._stopwords(language)
        surface = [t for t in tokenize(text) if t not in stop]
        stems = self._stem(language, surface) if language in STEMMERS else []
        return stems, surface

    # -- vectors ---------------------------------------------------------------------------

    def _tf_weights(self, terms: Iterable[str], namespace: str, length: int) -> dict[int, float]:
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
        return {term_id(namespace, t): tf * (self.k1 + 1) / (tf + norm) for t, tf in Counter(terms).items()}

    def encode_document(self, text: str, language: str | None) -> SparseVector:
        """BM25 term-frequency weights of stems and surface forms.

        Args:
            text: the chunk text.
            language: its ISO 639-1 code; ``None`` detects it, and an unsupported or
                undetectable language yields surface forms only.
        """
        lang = (language or "").lower() or self.detect_language(text)
        if lang and lang not in STEMMERS:
            lang = None
        stems, surface = self.analyze(text, lang)
        weights = self._tf_weights(stems, _STEM_NS, len(surface))
        weights.update(self._tf_weights(surface, _SURFACE_NS, len(surface)))
        return _to_vector(weights)

    def encode_query(self, text: str) -> SparseVector:
        """:meth:`encode_query_in` the query's detected language."""
        return self.encode_query_in(text, self.detect_language(text))

    def encode_query_in(self, text: str, lang: str | None) -> SparseVector:
        """Weight 1 per distinct stem, ``surface_weight`` per surface form.

        Analysed in ``lang``, the query's language; an unsure query (``None``) is not stemmed
        and weighs its surface forms at 1.
        """
        stems, surface = self.analyze(text, lang)
        weights = {term_id(_STEM_NS, s): 1.0 for s in stems}
        surface_weight = self.surface_weight if lang else 1.0
        if surface_weight > 0:
            weights.update({term_id(_SURFACE_NS, s): surface_weight for s in surface})
        return _to_vector(weights)
