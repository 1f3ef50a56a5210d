"""What a question asks for, and the checks that refuse on-topic evidence that cannot answer it."""

from __future__ import annotations

import pytest

from kb.answer import unanswerable
from kb.expected import Expect, expected_answer, gives, mentions, names_in
from kb.models import Hit
from kb.query import Query, make_query
from kb.sentences import Candidate, sentence_candidates
from tests.unit.kb.hits import make_hit


def _q(text: str) -> Query:
    """A query as a request works it out, in English."""
    return make_query(text, None, lambda _: "en")


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        ("How many cities signed the contract?", Expect.COUNT),
        ("Wie viele Vollzeitstellen hat die Geschäftsstelle?", Expect.COUNT),
        ("Combien de ménages le guichet unique a-t-il accompagnés ?", Expect.COUNT),
        ("Ile miast podpisało umowę?", Expect.COUNT),
        ("Kuinka monta kaupunkia haki mukaan?", Expect.COUNT),
        ("Πόσες πόλεις συμμετέχουν;", Expect.COUNT),
        ("How much did the government budget for Tartu?", Expect.AMOUNT),
        ("Wie viel hat Graz für Radwege ausgegeben?", Expect.AMOUNT),
        ("Quel est le montant de la subvention ?", Expect.AMOUNT),
        ("What is the total budget of the project?", Expect.AMOUNT),
        ("Mit welchem Förderbetrag kann eine Pionierstadt rechnen?", Expect.AMOUNT),
        ("Combien de tonnes de CO2 la ville a-t-elle émis ?", Expect.TONNES),
        ("¿Cuántas toneladas de CO₂ ha reducido la ciudad?", Expect.TONNES),
        ("Ile ton CO2 wyemitowało miasto w 2022 roku?", Expect.TONNES),
        ("Kolik tun CO2 vypustilo město?", Expect.TONNES),
        ("Πόσους τόνους CO2 εξέπεμψε η πόλη;", Expect.TONNES),
        ("How many tunnels and tonal maps did the city build?", Expect.COUNT),
        ("What interest rate does the bank charge?", Expect.PERCENT),
        ("Welchen Zinssatz zahlt die Stadt?", Expect.PERCENT),
        ("When did the first cities sign?", Expect.DATE),
        ("Has the Alliance held a webinar on this? When?", Expect.DATE),
        ("Kiedy miasta podpisały porozumienie?", Expect.DATE),
        ("What is the deadline for full proposals?", Expect.DATE),
        # "when" as a conjunction, durations written in words, and open questions
        ("Which countries did the study look at when comparing support structures?", Expect.ANY),
        ("How much staff time should a small town set aside?", Expect.ANY),
        ("Who coordinates the national platform?", Expect.ANY),
        ("Cuando una ciudad firma, ¿qué compromisos asume?", Expect.ANY),
    ],
)
def test_expected_answer(question: str, expect: Expect) -> None:
    assert expected_answer(question) is expect


def test_a_number_already_in_the_question_is_no_answer() -> None:
    question = "How many Estonian towns took part in the January 2025 cohort?"
    assert not gives("The January 2025 cohort met in Tallinn.", Expect.COUNT, question, "en")
    assert gives("In January 2025 the cohort had 24 towns.", Expect.COUNT, question, "en")
    assert not gives("The cohort started in 2024.", Expect.COUNT, question, "en"), "a year is not a count"


@pytest.mark.parametrize(
    ("sentence", "language"),
    [
        ("Sixty organisations joined the webinar.", "en"),
        ("Yhdeksän kaupunkia haki mukaan.", "fi"),
        ("W pracach uczestniczą przedstawiciele pięciu miast.", "pl"),
    ],
)
def test_numbers_written_in_words_count(sentence: str, language: str) -> None:
    assert gives(sentence, Expect.COUNT, "How many?", language)


def test_words_that_only_look_like_numbers_elsewhere_do_not_count() -> None:
    # "to" is two in Danish, "several" starts like "seven": neither is a number in English.
    assert not gives("Welcome to the webinar, several of you asked to join.", Expect.COUNT, "How many?", "en")


def test_amount_needs_a_currency_and_percent_needs_a_percentage() -> None:
    assert gives("The envelope is worth €2bn.", Expect.AMOUNT, "How much?", "en")
    assert gives("Die Förderung beträgt 3,6 Millionen Euro.", Expect.AMOUNT, "Wie viel Geld?", "de")
    assert not gives("The envelope is large and open to 112 cities.", Expect.AMOUNT, "How much?", "en")
    assert gives("ELENA covers up to 90% of the costs.", Expect.PERCENT, "What rate?", "en")
    assert not gives("The EIB lends €2bn to labelled cities.", Expect.PERCENT, "What interest rate?", "en")


@pytest.mark.parametrize(
    ("sentence", "language", "gives_tonnes"),
    [
        ("The goal is about 50 kt CO2e by 2030.", "en", True),
        ("Per inhabitant the target is 2,1 t CO₂e.", "sk", True),
        ("Die Stadt spart jährlich 3,5 Millionen Tonnen.", "de", True),
        ("The town now emits twelve thousand tonnes a year.", "en", True),
        ("Cinco ciudades españolas obtuvieron el Sello de la Misión.", "es", False),
        ("Emissions fell by 30 % in 2022.", "en", False),
    ],
)
def test_tonnes_need_a_figure_in_tonnes(sentence: str, language: str, gives_tonnes: bool) -> None:
    assert gives(sentence, Expect.TONNES, "How many tonnes of CO2 did the city emit?", language) is gives_tonnes


def test_open_questions_accept_any_sentence() -> None:
    assert gives("Cities work together in peer groups.", Expect.ANY, "Who coordinates?", "en")


def test_names_are_acronyms_and_capitalised_words_but_not_countries_or_german_nouns() -> None:
    assert names_in("Quel est le montant de la subvention de l'ADEME versée à Dunkerque ?", "fr") == [
        "ADEME",
        "Dunkerque",
    ]
    assert names_in("Who coordinates Ireland's platform in Sweden?", "en") == ["Ireland"]
    assert names_in("Wie viel Geld bekommen die Botschafter der BZK?", "de") == ["BZK"]


def test_mentions_ignores_script_accents_and_case_endings() -> None:
    assert mentions(["Столицата София и Габрово"], "Sofia")
    assert mentions(["Łódź i Kraków"], "Lodz")
    assert mentions(["in Gabrovos Rathaus"], "Gabrovo")
    assert not mentions(["Leuven and Antwerp"], "Dunkerque")


def _hit(text: str, *, language: str = "en", country: str | None = None) -> Hit:
    return make_hit(f"c{abs(hash(text))}", text, language=language, country=country)


def _evidence(*hits: Hit) -> list[Candidate]:
    return [c for rank, h in enumerate(hits) for c in sentence_candidates(rank, h)]


def test_unanswerable_when_no_sentence_gives_the_asked_figure() -> None:
    hit = _hit("The EIB has set aside a €2bn lending envelope for labelled cities and their projects.")
    reason = unanswerable(
        _q("What interest rate does the EIB charge on its €2bn envelope?"), "en", [hit], _evidence(hit)
    )
    assert reason == "no passage gives the percentage the question asks for"


def test_unanswerable_when_a_name_is_in_no_passage_of_the_question_language() -> None:
    hit = _hit("The national support structure brings ministries and cities to one table.")
    question = "Who coordinates Ireland's national support structure?"
    assert unanswerable(_q(question), "en", [hit], _evidence(hit)) == "no passage mentions Ireland"
    # Passages only in other languages may translate the name: no refusal on names then.
    other = _hit("La structure nationale réunit les ministères et les villes autour d'une table.", language="fr")
    assert unanswerable(_q(question), "en", [other], _evidence(other)) is None


def test_unanswerable_when_no_evidence_is_about_the_named_country() -> None:
    hit = _hit("An informal working group of ministries follows the Mission closely.", country="SK")
    question = "How is the Slovak working group organised?"
    assert unanswerable(_q(question), "en", [hit], _evidence(hit)) is None
    question = "How is the Swedish working group organised?"
    assert unanswerable(_q(question), "en", [hit], _evidence(hit)) == "no passage is about SE"
    assert unanswerable(_q(question), "en", [hit], _evidence(hit), country_scoped=True) is None


def test_answerable_evidence_passes_every_check() -> None:
    hit = _hit("Izmir received the EU Mission Label in March 2024 and Istanbul in May 2025.", country="TR")
    question = "When did Izmir and Istanbul receive the Mission Label?"
    assert unanswerable(_q(question), "en", [hit], _evidence(hit)) is None


def test_headings_and_titles_are_not_answer_sentences() -> None:
    text = "DUT Call 2025: what happens after the pre-proposal stage\nPre-proposals were due on 12 November 2025 at noon.\nRound | New labels | Total of the first year"
    sentences = [c.text for c in sentence_candidates(0, _hit(text))]
    assert sentences == [
        "Pre-proposals were due on 12 November 2025 at noon.",
        "Round | New labels | Total of the first year",
    ]
