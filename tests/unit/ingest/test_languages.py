"""Every supported language has every resource: name, analysis, refusal text, detection, stop
words and country names; and each module reads its languages from the one table."""

from __future__ import annotations

import gettext

import pycountry
import pytest
import Stemmer
import stopwordsiso

from ingest.languages import CODES, LANGUAGES, NO_STOPWORDS, detect_language, no_evidence_text

EU_OFFICIAL = {
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it", "lt", "lv", "mt", "nl",
    "pl", "pt", "ro", "sk", "sl", "sv",
}  # fmt: skip
SAMPLES = {
    "de": "Die Stadt hat einen Klimavertrag mit dem Ministerium unterschrieben und plant neue Radwege.",
    "pl": "Miasto podpisało umowę klimatyczną z ministerstwem i planuje nowe ścieżki rowerowe.",
    "tr": "Belediye bakanlıkla bir iklim sözleşmesi imzaladı ve yeni bisiklet yolları planlıyor.",
    "uk": "Місто підписало кліматичний договір з міністерством і планує нові велосипедні доріжки.",
    "el": "Ο δήμος υπέγραψε κλιματική σύμβαση με το υπουργείο και σχεδιάζει νέους ποδηλατοδρόμους.",
}


def test_the_table_covers_the_eu_languages_and_the_supporting_countries() -> None:
    assert set(CODES) == EU_OFFICIAL | {"tr", "uk"}


@pytest.mark.parametrize("code", CODES)
def test_every_language_has_every_resource(code: str) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    lang = LANGUAGES[code]
    assert lang.code == code and pycountry.languages.get(alpha_2=code) is not None and lang.name
    assert lang.stemmer is None or lang.stemmer in Stemmer.algorithms()
    assert lang.no_evidence.strip() and (code == "en" or lang.no_evidence != LANGUAGES["en"].no_evidence)
    assert code in LanguageIdentifier.from_model_file(MODEL_FILE).nb_classes
    assert stopwordsiso.has_lang(code) == (code not in NO_STOPWORDS)
    if code != "en":  # English country names are pycountry's own
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[code])


def test_refusal_texts_are_distinct_per_language() -> None:
    assert len({lang.no_evidence for lang in LANGUAGES.values()}) == len(LANGUAGES)
    assert no_evidence_text("xx") == no_evidence_text(None) == LANGUAGES["en"].no_evidence


@pytest.mark.parametrize(("code", "text"), sorted(SAMPLES.items()))
def test_one_detector_for_documents_and_queries(code: str, text: str) -> None:
    assert detect_language(text, min_confidence=0.5) == code
    assert detect_language("Climate", min_confidence=0.5, min_words=2) is None


def test_modules_read_their_languages_from_the_table() -> None:
    from ingest import countries
    from kb import sparse

    assert {c: LANGUAGES[c].stemmer for c in CODES} == sparse.STEMMERS
    assert countries.countries_in("Jak Turcja zorganizowała wsparcie?") == ["TR"]
    assert sparse.SparseEncoder().detect_language(SAMPLES["tr"]) == "tr"
