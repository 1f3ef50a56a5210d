"""What a question asks for, and whether a passage can give it.

A similarity threshold cannot tell "What interest rate does the EIB charge on its €2bn
envelope?" from a question the corpus answers: the best sentence (about the €2bn envelope) is
on topic. Two checks, run on the evidence an answer would cite, catch most of these:

- **Answer type.** A question asking how many, how much, which rate or when needs a number,
  an amount of money, a percentage or a date that the question does not already contain;
  "how many tonnes" needs a figure in tonnes ("50 kt", "2,1 t CO₂e", "3,5 Millionen Tonnen").
- **Names.** Names the question relies on (places, organisations, acronyms such as "ADEME" or
  "Dunkerque") must occur in the retrieved passages, compared without accents or script
  (``Sofia`` matches ``София``) and by prefix so that inflected forms count.

Both are deliberately lenient: they refuse only when the evidence plainly lacks what the
question needs, so that answerable questions in any language keep their answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache

from anyascii import anyascii
from num2words import num2words

from ingest.countries import countries_in


class Expect(StrEnum):
    """The kind of answer a question asks for."""

    ANY = "any"
    COUNT = "count"
    AMOUNT = "amount"  # of money
    PERCENT = "percent"
    DATE = "date"
    TONNES = "tonnes"  # a mass, usually of emissions

    @property
    def describe(self) -> str:
        """How a refusal names what is missing."""
        return _DESCRIBE[self]


_DESCRIBE = {
    Expect.ANY: "answer",
    Expect.COUNT: "number",
    Expect.AMOUNT: "amount of money",
    Expect.PERCENT: "percentage",
    Expect.DATE: "date",
    Expect.TONNES: "quantity in tonnes",
}


def _words(*groups: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of the phrases, at word starts."""
    phrases = [p for group in groups for p in group.split("|")]
    return re.compile(r"(?<!\w)(?:" + "|".join(phrases) + ")", re.IGNORECASE)


# Question phrases, per language (en de fr es it pt nl sv fi pl cs sk hu ro el bg uk tr da/no lt lv et sl/hr).
_QUANTITY = _words(
    r"how many\b|how much\b|how large\b|how big\b",
    r"wie viele?\b|wieviele?\b|wie hoch\b|wie gro(?:ß|ss)\b",
    r"combien\b",
    r"cu[aá]nt[oa]s?\b",
    r"quant[iaeo]\b|quantos\b|quantas\b",
    r"hoeveel\b|hoe hoog\b|hoe groot\b",
    r"hur m[aå]nga\b|hur mycket\b|hur stor\b",
    r"kuinka (?:monta|paljon|suuri)\b|montako\b|paljonko\b",
    r"ile\b|ilu\b",
    r"kolik\w*|ko[lľ]ko\b",
    r"h[aá]ny\w*|mennyi\w*",
    r"c[aâ]t[eiț]\b|câți\b|câte\b|cât\b",
    r"π[oό]σ\w+",
    r"колко\b|скільки\b",
    r"ka[cç]\b|ne kadar\b",
    r"hvor (?:mange|meget|mye)\b",
    r"kiek\b|cik\b|mitu\b|kui palju\b|koliko\b",
)
_RATE = _words(
    r"interest rate|rate of interest|percentage|per ?cent\b",
    r"zins\w*|prozent\w*",
    r"taux\b|pourcentage",
    r"tipo de inter[eé]s|tasa de inter[eé]s|porcentaje",
    r"tasso\b|percentuale",
    r"taxa de juro|percentagem",
    r"rente\b|rentevoet|percentage",
    r"r[aä]nta|procentsats",
    r"korko\w*|prosentti\w*",
    r"oprocentowani\w*|odsetk\w*",
    r"úrok\w*|procent\w*",
    r"kamat\w*|százalék\w*",
    r"dobând\w*|procent\w*",
    r"επιτόκι\w*|ποσοστ\w*",
    r"лихв\w*|відсот\w*|процент\w*",
    r"faiz\w*|yüzde\w*",
)
_MONEY = _words(
    r"budget\w*|money|cost\w*|spen[dt]\w*|paid|pay\w*|fund\w*|grant\w*|subsid\w*|euros?\b|€|loan\w*|"
    r"invest\w*|worth|price\w*|fee\b|fees\b|allowance|salar\w*|compensation|amount",
    r"geld\w*|kosten\w*|ausgegeben|bezahlt|f[oö]rder\w*|zuschuss\w*|\w*entsch[aä]digung|\w*betrag\w*|mittel\b",
    r"argent|co[uû]t\w*|d[eé]pens\w*|subvention\w*|montant\w*|financ\w*|prix|indemnit\w*",
    r"presupuest\w*|dinero|coste\w*|gast\w*|subvenci\w*|importe\w*|financi\w*",
    r"bilanci\w*|soldi|spes[aeo]\w*|finanziament\w*|contribut\w*|importo\w*|compens\w*",
    r"or[cç]amento\w*|dinheiro|custo\w*|subs[ií]dio\w*|montante\w*",
    r"begrot\w*|subsidie\w*|bedrag\w*|vergoeding\w*",
    r"pengar|kostnad\w*|bidrag\w*|belopp\w*|ers[aä]ttning\w*",
    r"budjet\w*|raha\w*|kustannu\w*|avustu\w*|rahoitu\w*",
    r"bud[zż]et\w*|pieni[aą]d\w*|pieni[eę]dz\w*|koszt\w*|dotac\w*|kwot\w*|finansowani\w*",
    r"rozpo[cč]et\w*|pen[ií]z\w*|n[aá]klad\w*|[cč][aá]stk\w*|financov[aá]n\w*",
    r"k[oö]lts[eé]g\w*|p[eé]nz\w*|t[aá]mogat[aá]s\w*|[oö]sszeg\w*",
    r"buget\w*|bani\b|subven[tț]i\w*|sum[aă]\b|finan[tț]are",
    r"προϋπολογισμ\w*|χρήμα\w*|κόστ\w*|χρηματοδότ\w*",
    r"бюджет\w*|пари\b|гроші\w*|кошт\w*|фінанс\w*|финанс\w*",
    r"b[uü]t[cç]e\w*|maliyet\w*|hibe\w*",
)
# "What is the budget / amount ...": asks for money without a how-much word.
_AMOUNT_NOUN = _words(
    r"budget\w*|amount|sum\b|bud[zż]et\w*|rozpo[cč]et\w*|k[oö]lts[eé]gvet[eé]s\w*|buget\w*|"
    r"presupuesto\w*|bilancio|begroting|montant\w*|importe|importo|bedrag|betrag\w*|\w+betrag\w*|"
    r"kwot\w*|[cč][aá]stk\w*|[oö]sszeg\w*|προϋπολογισμ\w*|бюджет\w*|b[uü]t[cç]e\w*"
)
# "When" words are also conjunctions ("... when comparing"): they count at a clause start only.
_WHEN = re.compile(
    r"(?:^|[?.!,;:¿¡]\s*|\b(?:and|und|et|y|e|en|och|ja|i|a|és|si|și|και|и|і|ve|og)\s+)(?:\S+\s+){0,2}?"
    r"(?:when|wann|quand|cuándo|quando|wanneer|när|milloin|kiedy|kdy|kedy|mikor|când|πότε|кога|коли|"
    r"hvornår|når|millal|kada|kdaj|ne zaman)(?!\w)",
    re.IGNORECASE,
)
_DATE = _words(
    r"deadline|what date|which date|in which year|in what year|which year",
    r"frist\w*|stichtag|bis wann|in welchem jahr|welches datum",
    r"date limite|[eé]ch[eé]ance|en quelle ann[eé]e|quelle date",
    r"fecha l[ií]mite|plazo\b|en qu[eé] a[nñ]o|qu[eé] fecha",
    r"scadenza|in che anno|in quale anno|entro quando",
    r"in welk jaar|uiterste datum",
    r"sista dag|vilket [aå]r",
    r"m[aä][aä]r[aä]aika|mihin menness[aä]",
    r"w kt[oó]rym roku|do kiedy",
    r"uz[aá]v[eě]rk\w*|v kter[eé]m roce",
    r"hat[aá]rid\w*|melyik [eé]vben",
    r"[iî]n ce an\b",
    r"προθεσμ\w*",
    r"до коли\b",
    r"hangi y[iı]l",
)
# Durations ("how much staff time") are often written in words ("one working day a week").
_DURATION = _words(
    r"time\b|hours?\b|days?\b|weeks?\b|months?\b|zeit\b|stunden\b|tage\b|temps\b|heures\b|jours\b|"
    r"tiempo\b|horas\b|d[ií]as\b|tempo\b|ore\b|giorni\b|tijd\b|uren\b|dagen\b|tid\b|timmar\b|dagar\b|"
    r"aika\w*|tunti\w*|czas\w*|godzin\w*|dni\b|čas\w*|hodin\w*|id[oő]\b|[oó]r[aá]\w*|timp\w*"
)
# "How many tonnes of CO2 ...": the unit, in the question and after a figure in the answer.
_TONNE_WORDS = (
    r"tonn\w*|tons?\b|tone\b|tonel\w*|t[oó]n[ayu]?\b|tonach\b|tun[yuě]?\b|tunách\b|"
    r"τ[οό]ν(?:ος|οι|ους|ων)\b|тон(?:н\w*|а|и|ове)\b"
)
_TONNES_QUESTION = _words(_TONNE_WORDS)
_TONNES_FIGURE = re.compile(
    r"\d(?:[\d.,\s]*\d)?\s*(?:(?:thousand|million|tys\w*|mil\w*|mln|Mio\.?|tis\w*)\s+)?(?:[kmg]?t\b|"
    + _TONNE_WORDS
    + ")",
    re.IGNORECASE,
)

_CURRENCY = re.compile(
    r"€|\$|£|\b(?:eur|euros?|evro|евро|євро|ευρώ|sek|kr|kronor|pln|z[lł]|zlot\w*|czk|k[cč]|korun\w*|huf|ft|forint\w*|"
    r"lei|ron|лв|лева|bgn|грив\w*|uah|₴|tl|₺|lir\w*)\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(
    r"%|\b(?:per ?cent|percent\w*|prozent\w*|pour ?cent|por ?ciento|per ?cento|por ?cento|procent\w*|prosent\w*|"
    r"százalék\w*|procento\w*|τοις εκατό|ποσοστ\w*|відсот\w*|процент\w*|yüzde\w*)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,\s]\d{3})*(?:[.,]\d+)?")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_YEAR = re.compile(r"^(?:19[5-9]\d|20\d\d)$")
_NUMBER_WORD_LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "fi", "pl", "cs", "sk", "hu", "ro", "tr", "uk",
    "lt", "lv", "sl", "da", "no",
)  # fmt: skip


# Languages whose number words take case endings ("pięciu", "yhdeksää"): matched by stem.
_INFLECTING = {"fi", "pl", "cs", "sk", "hu", "ro", "tr", "uk", "lt", "lv", "sl"}


def expected_answer(question: str) -> Expect:
    """The kind of answer a question asks for; ``ANY`` when it cannot be told."""
    if _RATE.search(question):
        return Expect.PERCENT
    quantity = bool(_QUANTITY.search(question))
    if quantity and _DURATION.search(question):
        return Expect.ANY
    if (quantity and _MONEY.search(question)) or (not quantity and _AMOUNT_NOUN.search(question)):
        return Expect.AMOUNT
    if quantity and _TONNES_QUESTION.search(question):
        return Expect.TONNES
    if quantity:
        return Expect.COUNT
    if _DATE.search(question) or _WHEN.search(question):
        return Expect.DATE
    return Expect.ANY


def gives(sentence: str, expect: Expect, question: str, language: str | None = None) -> bool:
    """True when ``sentence`` (in ``language``) holds an answer of the expected kind not already in the question."""
    if expect is Expect.ANY:
        return True
    numbers = _new_numbers(sentence, question)
    worded = _has_number_word(sentence, language)
    if expect is Expect.PERCENT:
        return bool(_PERCENT.search(sentence)) and (bool(numbers) or worded)
    if expect is Expect.AMOUNT:
        return bool(_CURRENCY.search(sentence)) and (bool(numbers) or worded)
    if expect is Expect.DATE:
        return bool(numbers) or worded
    if expect is Expect.TONNES:
        return bool(_TONNES_FIGURE.search(sentence)) or (worded and bool(_TONNES_QUESTION.search(sentence)))
    return any(not _YEAR.match(n) for n in numbers) or worded


def names_in(question: str, language: str | None) -> list[str]:
    """Names a question relies on: acronyms, and capitalised words past the first word.

    German capitalises every noun, so only acronyms count there. Country names are left to the
    retriever's country handling.
    """
    tokens = [m for m in _TOKEN.finditer(question)]
    names: list[str] = []
    for i, match in enumerate(tokens):
        word = match.group()
        if any(ch.isdigit() for ch in word) or len(word) < 3:
            continue
        acronym = word.isupper() and sum(ch.isalpha() for ch in word) >= 2
        capitalised = i > 0 and word[0].isupper() and language != "de" and not _sentence_start(question, match.start())
        if (acronym or capitalised) and not countries_in(word):
            names.append(word)
    return names


def mentions(texts: Iterable[str], name: str) -> bool:
    """True when any text holds ``name``, or an inflected form of it, ignoring accents and script."""
    return not missing_names(texts, [name])


def missing_names(texts: Iterable[str], names: Iterable[str]) -> list[str]:
    """The names no text holds (as :func:`mentions` compares them); each text is folded once."""
    folded = [_fold(text) for text in texts]
    missing = []
    for name in names:
        key = _fold(name)
        stem = key[: max(4, len(key) - 2)] if len(key) > 4 else key
        pattern = re.compile(r"(?<![a-z0-9])" + re.escape(stem))
        if not any(pattern.search(text) for text in folded):
            missing.append(name)
    return missing


def _fold(text: str) -> str:
    return anyascii(text).casefold()


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before[-1] in ".!?:;\"'«“(¿¡"


def _new_numbers(sentence: str, question: str) -> list[str]:
    asked = {_plain(n) for n in _NUMBER.findall(question)}
    return [p for n in _NUMBER.findall(sentence) if (p := _plain(n)) not in asked]


def _plain(number: str) -> str:
    return re.sub(r"[.,\s]", "", number).lstrip("0") or "0"


def _has_number_word(sentence: str, language: str | None) -> bool:
    """True when the sentence writes a number in words ("sixty", "yhdeksän", "pięciu")."""
    words, stems = _number_words(language or "en")
    for token in _TOKEN.findall(sentence.casefold()):
        if token in words or (stems and len(token) >= 5 and _fold(token).startswith(stems)):
            return True
    return False


@lru_cache(maxsize=32)
def _number_words(language: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Number words from two to a thousand in ``language`` (none where num2words lacks it),
    and the stems of the longer ones, for inflected forms."""
    if language not in _NUMBER_WORD_LANGUAGES:
        return frozenset(), ()
    values = [*range(2, 21), *range(30, 101, 10), *range(200, 1001, 100), 10**6, 10**9]
    words = {num2words(n, lang=language).casefold() for n in values}
    words = {w for w in words if " " not in w and "-" not in w}
    # Stems without accents, so that "pięć" also finds "pięciu": the whole word from four letters
    # on, or without its last letter from five ("yhdeksän" -> "yhdeksää").
    folded = {_fold(w) for w in words if len(w) >= 4}
    stems = tuple(sorted(folded | {w[:-1] for w in folded if len(w) >= 5})) if language in _INFLECTING else ()
    return frozenset(words), stems
