"""The domain gold set (eval/gold/*.jsonl) as typed items."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

GOLD_DIR = Path(__file__).resolve().parent / "gold"
KINDS = ("factual", "cross_lingual", "comparison", "speakers", "unanswerable", "small_city")


@dataclass(frozen=True)
class Relevant:
    """A document that answers a question, with the passages that do."""

    doc_id: str
    passages: tuple[str, ...] = ()
    country: str | None = None


@dataclass(frozen=True)
class GoldItem:
    """One gold question."""

    id: str
    question: str
    language: str
    kind: str
    relevant: tuple[Relevant, ...] = ()
    facts: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    source: str = field(default="", compare=False)
    part: str = "tuning"  # or "heldout" (eval/gold/split.json)

    @property
    def answerable(self) -> bool:
        """False for questions the corpus has no evidence for."""
        return self.kind != "unanswerable"

    def qrels(self) -> dict[str, int]:
        """Relevant document ids with grade 1."""
        return {r.doc_id: 1 for r in self.relevant}


def parse_item(data: dict[str, Any], source: str = "") -> GoldItem:
    """Build a :class:`GoldItem` from one JSON object; raise ValueError on missing fields."""
    missing = [k for k in ("id", "question", "language", "kind") if k not in data]
    if missing:
        raise ValueError(f"{source}: missing {', '.join(missing)}")
    if data["kind"] not in KINDS:
        raise ValueError(f"{source}: unknown kind {data['kind']!r}")
    relevant = tuple(
        Relevant(doc_id=r["doc_id"], passages=tuple(r.get("passages", ())), country=r.get("country"))
        for r in data.get("relevant", ())
    )
    return GoldItem(
        id=str(data["id"]),
        question=data["question"],
        language=data["language"],
        kind=data["kind"],
        relevant=relevant,
        facts=tuple(data.get("facts", ())),
        speakers=tuple(data.get("speakers", ())),
        countries=tuple(data.get("countries", ())),
        source=source,
    )


def load_gold(folder: Path = GOLD_DIR) -> list[GoldItem]:
    """Every question of every ``*.jsonl`` file in ``folder``, in file then line order.

    Raises:
        ValueError: A line is not valid JSON, lacks a field, or an id repeats.
    """
    items: list[GoldItem] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: {exc.msg}") from None
            item = parse_item(data, where)
            if item.id in seen:
                raise ValueError(f"{where}: duplicate id {item.id}")
            seen.add(item.id)
            items.append(item)
    split = folder / "split.json"
    if split.exists():
        items = apply_split(items, json.loads(split.read_text(encoding="utf-8")))
    logger.info("loaded %d gold questions from %s", len(items), folder)
    return items


def apply_split(items: list[GoldItem], split: dict[str, Any]) -> list[GoldItem]:
    """Mark each item ``tuning`` or ``heldout``: by its first relevant document, or by id when it has none.

    Thresholds and rules are chosen on the tuning part; the held-out part is only reported.
    """
    documents, unanswerable = set(split["heldout_documents"]), set(split["heldout_unanswerable"])
    out = []
    for it in items:
        held = it.relevant[0].doc_id in documents if it.relevant else it.id in unanswerable
        out.append(replace(it, part="heldout" if held else "tuning"))
    return out


def language_pair(item: GoldItem, doc_languages: dict[str, str | None]) -> str:
    """``question language->document language``; ``mixed`` when relevant documents differ, ``none`` without any."""
    langs = {doc_languages.get(r.doc_id) or "?" for r in item.relevant}
    if not langs:
        return f"{item.language}->none"
    target = langs.pop() if len(langs) == 1 else "mixed"
    return f"{item.language}->{target}"
