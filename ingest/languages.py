"""The languages this project supports, in one table, and the one language detector.

The EU's 24 official languages, plus Turkish and Ukrainian for the programme's supporting
countries. For each: its ISO 639-1 code, its English name, how sparse retrieval analyses it
(a Snowball stemmer, or truncation where Snowball has none), and the sentence an answer gives
when the knowledge base has no evidence. Document metadata, sparse vectors, answers and
country names all read their languages from here; a test checks that every language has
every resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Language:
    """One supported language.

    Attributes:
        code: ISO 639-1 code.
        name: English name.
        stemmer: PyStemmer (Snowball) algorithm; ``None``: words are cut to their first
            six characters instead.
        no_evidence: The answer when the knowledge base has nothing to answer with.
    """

    code: str
    name: str
    stemmer: str | None
    no_evidence: str


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("bg", "Bulgarian", None, "Базата знания не съдържа данни, за да отговори на този въпрос."),
        Language("cs", "Czech", "czech", "Znalostní báze neobsahuje podklady pro odpověď na tuto otázku."),
        Language("da", "Danish", "danish", "Vidensbasen har ingen dokumentation til at besvare dette spørgsmål."),
        Language("de", "German", "german", "Die Wissensdatenbank enthält keine Belege, um diese Frage zu beantworten."),
        Language("el", "Greek", "greek", "Η βάση γνώσεων δεν περιέχει στοιχεία για να απαντήσει σε αυτή την ερώτηση."),
        Language("en", "English", "english", "The knowledge base has no evidence to answer this question."),
        Language(
            "es", "Spanish", "spanish", "La base de conocimiento no contiene evidencia para responder a esta pregunta."
        ),
        Language("et", "Estonian", "estonian", "Teadmusbaasis puuduvad tõendid sellele küsimusele vastamiseks."),
        Language("fi", "Finnish", "finnish", "Tietokannassa ei ole näyttöä tähän kysymykseen vastaamiseksi."),
        Language(
            "fr",
            "French",
            "french",
            "La base de connaissances ne contient aucun élément pour répondre à cette question.",
        ),
        Language("ga", "Irish", "irish", "Níl aon fhianaise sa bhunachar eolais chun an cheist seo a fhreagairt."),
        Language("hr", "Croatian", "serbian", "Baza znanja ne sadrži dokaze za odgovor na ovo pitanje."),
        Language("hu", "Hungarian", "hungarian", "A tudásbázisban nincs bizonyíték a kérdés megválaszolásához."),
        Language(
            "it", "Italian", "italian", "La base di conoscenza non contiene elementi per rispondere a questa domanda."
        ),
        Language(
            "lt", "Lithuanian", "lithuanian", "Žinių bazėje nėra duomenų, kad būtų galima atsakyti į šį klausimą."
        ),
        Language("lv", "Latvian", None, "Zināšanu bāzē nav pierādījumu, lai atbildētu uz šo jautājumu."),
        Language("mt", "Maltese", None, "Il-bażi tal-għarfien ma fihiex evidenza biex twieġeb din il-mistoqsija."),
        Language("nl", "Dutch", "dutch", "De kennisbank bevat geen bewijs om deze vraag te beantwoorden."),
        Language(
            "pl", "Polish", "polish", "Baza wiedzy nie zawiera informacji pozwalających odpowiedzieć na to pytanie."
        ),
        Language(
            "pt",
            "Portuguese",
            "portuguese",
            "A base de conhecimento não tem evidências para responder a esta pergunta.",
        ),
        Language(
            "ro", "Romanian", "romanian", "Baza de cunoștințe nu conține dovezi pentru a răspunde la această întrebare."
        ),
        Language("sk", "Slovak", "czech", "Znalostná báza neobsahuje podklady na odpoveď na túto otázku."),
        Language("sl", "Slovenian", None, "Baza znanja ne vsebuje dokazov za odgovor na to vprašanje."),
        Language("sv", "Swedish", "swedish", "Kunskapsbasen har inget underlag för att besvara den här frågan."),
        Language("tr", "Turkish", "turkish", "Bilgi tabanında bu soruyu yanıtlayacak kanıt yok."),
        Language("uk", "Ukrainian", None, "База знань не містить даних, щоб відповісти на це запитання."),
    )
}
CODES: tuple[str, ...] = tuple(LANGUAGES)
# stopwords-iso, which the sparse analysis reads, has no list for these: their function words
# stay in sparse vectors, where Qdrant's IDF weighs them down.
NO_STOPWORDS = frozenset({"mt"})
# Detection probability a document's language needs (queries, being short, set their own).
DOCUMENT_CONFIDENCE = 0.5
# Words for the detector's minimum: letters, digits and apostrophes inside a word.
_WORD = re.compile(r"\w+", re.UNICODE)


def no_evidence_text(code: str | None) -> str:
    """The "no evidence" answer in language ``code``, in English for an unsupported one."""
    return LANGUAGES.get(code or "en", LANGUAGES["en"]).no_evidence


def _analysis(code: str) -> str:
    """Languages analysed alike (Czech and Slovak) share this key."""
    return LANGUAGES[code].stemmer or code


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages([code for code in CODES if code in ident.nb_classes])
    return ident


def detect_language(text: str, *, min_confidence: float, min_words: int = 1, max_chars: int = 5000) -> str | None:
    """The language of ``text`` among the supported ones, offline (py3langid), or ``None`` when unsure.

    Languages analysed alike (Czech and Slovak) pool their probability, since confusing
    them changes nothing downstream.

    Args:
        text: What to detect.
        min_confidence: Pooled probability below which the answer is ``None``.
        min_words: Texts with fewer words are too short to tell.
        max_chars: Only the start of a long text is read.

    Returns:
        An ISO 639-1 code from :data:`LANGUAGES`, or ``None``.
    """
    sample = text[:max_chars]
    if len(_WORD.findall(sample)) < min_words:
        return None
    ranked: list[tuple[str, float]] = _identifier().rank(sample)
    best = ranked[0][0]
    pooled = sum(p for code, p in ranked if _analysis(code) == _analysis(best))
    return str(best) if pooled >= min_confidence else None
