"""Countries named in a question, in any of our languages ("Szwecji", "suédois", "Sweden's").

Policymakers ask "how did Sweden set up its platform?" in their own language about material
written in another. Dense vectors alone tend to favour documents in the question's language,
so the retriever uses the countries a question names to boost those countries' material.
Names come from pycountry's ISO 3166 translations; inflected forms match by prefix.
"""

from __future__ import annotations

import gettext
import re
from functools import lru_cache

import pycountry

from ingest.languages import CODES
from ingest.textnorm import fold

# CapaCITIES core and supporting countries (ISO 3166, as stored: GR for Greece).
COUNTRIES = (
    "AT", "BE", "BG", "CZ", "DE", "EE", "ES", "FI", "FR", "GR", "HU", "IT", "NL", "PL", "PT", "RO",
    "SE", "SI", "SK", "TR", "UA",
)  # fmt: skip
# Forms the translations do not give: English adjectives and common alternative names.
EXTRA = {
    "AT": ["austrian", "austriack", "rakousk", "osztrak", "autrichien", "austriac", "osterreichisch"],
    "BE": ["belgian", "belgijsk", "belgick", "belge", "belgisch"],
    "BG": ["bulgarian", "bulgar", "balgar"],
    "CZ": ["czech", "czech republic", "czesk", "cesk", "tschech", "tcheque", "checo", "ceco", "cseh"],
    "DE": ["german", "deutsch", "niemieck", "nemeck", "nemet", "allemand", "aleman", "tedesc"],
    "EE": ["estonian", "eston"],
    "ES": ["spanish", "spaniards", "hiszpan", "spanel", "spanyol", "espanol", "spagnol", "spanisch", "espagnol"],
    "FI": ["finnish", "finland", "finsk", "finn", "finlandes", "finlandai", "suomalai"],
    "FR": ["french", "francusk", "francouz", "francais", "frances", "franzos", "francese"],
    "GR": ["greek", "hellenic", "ελληνικ", "greck", "griechisch", "grec", "grieks", "grek"],
    "HU": ["hungarian", "wegiersk", "madarsk", "ungar", "hongrois", "ungheres", "hungar", "magyar"],
    "IT": ["italian", "wlosk", "włosk", "italsk", "olasz", "italien", "italiano", "italienisch"],
    "NL": ["dutch", "holland", "nederlands", "holendersk", "nizozem", "olandes", "neerlandais", "niederland"],
    "PL": ["polish", "polsk", "polsce", "polski", "polonais", "polaco", "polacc", "polnisch", "lengyel"],
    "PT": ["portuguese", "portugu"],
    "RO": ["romanian", "român", "rumun", "rumän", "roumain", "rumano", "romen"],
    "SE": ["swedish", "svensk", "szwedz", "svedsk", "sved", "suedois", "sueco", "schwedisch", "zweeds"],
    "SI": ["slovenian", "slovene", "slowen", "sloven"],
    "SK": ["slovak", "slovensk", "slowack", "szlovak", "slovaqu", "slowak"],
    "TR": ["turkish", "turkey", "türk", "turec", "turc", "turk"],
    "UA": ["ukrainian", "ukrain"],
}  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_PREFIX = 4
_MAX_ENDING = 5  # longest case ending kept off a country name (Hungarian -ban, Finnish -essa)


def _prefix(name: str) -> str:
    """The part of a one-word name that survives inflection (Szwecja -> szwec)."""
    cut = 1 if len(name) <= 6 else 2
    return name[: max(_MIN_PREFIX, len(name) - cut)]


@lru_cache(maxsize=1)
def _patterns() -> tuple[dict[str, str], dict[str, str]]:
    """Return (word prefix -> country code, multi-word phrase -> country code)."""
    names: dict[str, set[str]] = {code: set() for code in COUNTRIES}
    for code in COUNTRIES:
        country = pycountry.countries.get(alpha_2=code)
        if country is None:
            continue
        english = {country.name, getattr(country, "common_name", country.name)}
        names[code].update(english)
        for lang in CODES:  # English names are pycountry's own
            try:
                translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
            except OSError:
                continue
            names[code].update(translation.gettext(n) for n in english)
    prefixes: dict[str, str] = {}
    phrases: dict[str, str] = {}
    for code, extra in EXTRA.items():
        for form in extra:
            words = _WORD.findall(fold(form))
            if len(words) == 1:
                prefixes.setdefault(words[0], code)  # adjective stems match as they are
            else:
                phrases.setdefault(" ".join(words), code)
    for code, forms in names.items():
        for form in forms:
            folded = fold(form)
            words = _WORD.findall(folded)
            if len(words) == 1:
                prefixes.setdefault(_prefix(words[0]), code)
            elif words:
                phrases.setdefault(" ".join(words), code)
    return prefixes, phrases


def countries_in(text: str) -> list[str]:
    """Country codes named in ``text``, in order of first mention."""
    prefixes, phrases = _patterns()
    folded = fold(text)
    words = _WORD.findall(folded)
    found: dict[int, str] = {}
    joined = " ".join(words)
    for phrase, code in phrases.items():
        at = f" {joined} ".find(f" {phrase} ")
        if at >= 0:
            found.setdefault(at, code)
    position = 0
    for word in words:
        if len(word) >= _MIN_PREFIX:
            for cut in range(len(word), max(_MIN_PREFIX, len(word) - _MAX_ENDING) - 1, -1):
                match = prefixes.get(word[:cut])
                if match:
                    found.setdefault(position, match)
                    break
        position += len(word) + 1
    ordered = [found[k] for k in sorted(found)]
    return list(dict.fromkeys(ordered))


def country_label(code: str | None) -> str:
    """``"Greece (GR)"``: the ISO 3166 name (common name where there is one) with the code."""
    if not code:
        return ""
    if code == "EU":
        return "European Union (EU)"
    country = pycountry.countries.get(alpha_2=code)
    name = getattr(country, "common_name", None) or getattr(country, "name", None)
    return f"{name} ({code})" if name else code
