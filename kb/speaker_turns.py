"""Speaker turns of a transcript and the part each person plays in it, read from the turns.

A webinar's host opens and closes it, gives the word to the next speaker by name and asks
most of the questions; the experts answer. Those signals are structural (turn order, question
marks, names), so they hold in every language of the corpus without word lists. A role in the
document's metadata wins over them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ingest.metadata import FICTIONAL_MARK
from ingest.models import Chunk, Span
from ingest.textnorm import fold

#: Metadata roles (free text) that make a person a webinar's host rather than a presenter.
HOST_ROLE_WORDS = ("modera", "host", "chair")
#: Host score (see :func:`read_roles`) from which a person without a metadata role is a host:
#: as much as opening and closing the webinar. On the gold set's tuning transcripts the hosts
#: score 1.8 to 2.1 and everyone else at most 0.8.
HOST_SCORE = 1.0
_MIN_TURNS = 4  # fewer turns say too little about who hosts
_CLOSERS = "\"'»”’)]"
_GREEK_QUESTION = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]\s*;$")  # Greek writes "?" as ";"
_ASKS = re.compile(r"[?？\u037e](?=[\s\"'»”’)\]]|$)|[\u0370-\u03ff\u1f00-\u1fff];(?=\s|$)")


def name_key(name: str) -> str:
    """Normalise a person's name for identity: no "(fictional)", accents, case or extra spaces."""
    return " ".join(fold(FICTIONAL_MARK.sub("", name)).replace("-", " ").split())


def display_name(name: str) -> str:
    """A person's name as shown: without a "(fictional)" marker."""
    return " ".join(FICTIONAL_MARK.sub("", name).split())


def mentions(text: str, names: Iterable[str]) -> list[str]:
    """The ``names`` that ``text`` mentions by full or first name, ignoring case and accents."""
    folded = fold(text)
    found = []
    for name in names:
        shown = fold(display_name(name))
        forms = {shown, shown.split()[0]} if shown else set()
        if any(re.search(rf"(?<!\w){re.escape(form)}(?!\w)", folded) for form in forms):
            found.append(name)
    return found


def ends_with_question(text: str) -> bool:
    """Whether a turn ends on a question (``?``, ``？``, or the Greek question mark)."""
    end = text.rstrip().rstrip(_CLOSERS).rstrip()
    return end.endswith(("?", "？", "\u037e")) or bool(_GREEK_QUESTION.search(end))


@dataclass(frozen=True)
class Said:
    """One speaker turn (a transcript cue): who, when, where in the document, and the words."""

    chunk: Chunk
    speaker: str
    start_s: float
    end_s: float
    span: Span
    text: str

    @property
    def key(self) -> tuple[float, str]:
        """The cue's identity in its transcript: its start time and speaker."""
        return (self.start_s, self.speaker)


def turns_of(chunks: Iterable[Chunk], limit: int | None = None) -> list[Said]:
    """Each cue with a speaker once, in the order first met (``limit``: at most that many cues).

    A cue cut by a chunk boundary shows in part in each chunk; its longest piece is kept.
    """
    turns: dict[tuple[str, float, str], Said] = {}
    for chunk in chunks:
        for t in chunk.turns:
            key = (chunk.doc_id, t.start_s, t.speaker or "")
            if not t.speaker or (key not in turns and limit is not None and len(turns) >= limit):
                continue
            old = turns.get(key)
            if old is None or t.span.end - t.span.start > old.span.end - old.span.start:
                text = chunk.text[t.span.start - chunk.span.start : t.span.end - chunk.span.start]
                turns[key] = Said(chunk, t.speaker, t.start_s, t.end_s, t.span, text)
    return list(turns.values())


@dataclass(frozen=True)
class Roles:
    """Who hosts a webinar, which of its turns only frame the talk, and which answer a prompt.

    Attributes:
        hosts: Name keys of the hosts (moderators, chairs).
        inferred: Name keys of the hosts found from the turns, not from metadata.
        framing: Keys (:attr:`Said.key`) of the turns that end on a question, give the word
            to the next speaker by name, or introduce several people.
        prompts: Key of a turn -> the turn just before it that gave its speaker the word by
            name ("Sophie, what is an energy performance contract?").
    """

    hosts: frozenset[str] = frozenset()
    inferred: frozenset[str] = frozenset()
    framing: frozenset[tuple[float, str]] = frozenset()
    prompts: Mapping[tuple[float, str], Said] = field(default_factory=dict)


def read_roles(turns: Sequence[Said], meta_roles: Mapping[str, str | None]) -> Roles:
    """The roles in one transcript, from its turns in time order and its metadata roles.

    A person's host score is half a point each for opening and for closing the webinar, plus
    the share of their turns that ask a question, plus the share that give the word to the
    next speaker by name; from :data:`HOST_SCORE` on they host. A role in metadata wins: the
    person hosts exactly when it names a host (:data:`HOST_ROLE_WORDS`).

    Args:
        turns: Every turn of the transcript, ordered by time.
        meta_roles: Name key -> role, for the people the document's metadata lists.
    """
    turns = sorted(turns, key=lambda t: t.start_s)
    people = list(dict.fromkeys(t.speaker for t in turns))
    if len(people) < 2:
        return Roles()
    framing: set[tuple[float, str]] = set()
    prompts: dict[tuple[float, str], Said] = {}
    counts: Counter[str] = Counter()
    asks: Counter[str] = Counter()
    hands_over: Counter[str] = Counter()
    for i, t in enumerate(turns):
        named = mentions(t.text, [p for p in people if p != t.speaker])
        follower = turns[i + 1].speaker if i + 1 < len(turns) else None
        gives_word = follower is not None and follower in named
        counts[t.speaker] += 1
        asks[t.speaker] += bool(_ASKS.search(t.text))
        hands_over[t.speaker] += gives_word
        if gives_word:
            prompts[turns[i + 1].key] = t
        if gives_word or len(named) >= 2 or ends_with_question(t.text):
            framing.add(t.key)
    hosts: set[str] = set()
    inferred: set[str] = set()
    for person in people:
        key = name_key(person)
        role = meta_roles.get(key)
        if role:
            if any(word in fold(role) for word in HOST_ROLE_WORDS):
                hosts.add(key)
            continue
        if len(turns) < _MIN_TURNS:
            continue
        score = 0.5 * (turns[0].speaker == person) + 0.5 * (turns[-1].speaker == person)
        score += (asks[person] + hands_over[person]) / counts[person]
        if score >= HOST_SCORE:
            hosts.add(key)
            inferred.add(key)
    return Roles(frozenset(hosts), frozenset(inferred), frozenset(framing), prompts)
