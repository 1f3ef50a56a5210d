"""WebVTT and SRT transcripts: one ``cue`` element per cue, with speaker and times.

The document text has one line per cue, ``"{speaker}: {text}"`` when the speaker is known;
each element's span covers only the spoken text. A WebVTT ``NOTE`` block right after the
header may hold YAML metadata (title, date, speakers). SRT speakers are ``Name:`` prefixes.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from typing import Any

import yaml

from ingest.errors import ParseError
from ingest.loaders.base import Parsed, TextBuilder
from ingest.metadata import parse_yaml, validate

logger = logging.getLogger(__name__)

_VTT_TS = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_SRT_TS = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)[,.](\d{1,3})$")
_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?[ \t]+([^>]+)>")
_TAG = re.compile(r"<[^>]*>")
_PREFIX = re.compile(r"^([^\W\d_][^:]{0,80}?):\s+(\S.*)$")
_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "du", "ter", "af", "y"}


def load_transcript(name: str, text: str, fmt: str, *, known_speakers: Sequence[str] = ()) -> Parsed:
    """Parse a WebVTT (``fmt="vtt"``) or SRT (``fmt="srt"``) transcript.

    Args:
        name: The file name for error messages.
        text: The decoded file.
        fmt: ``"vtt"`` or ``"srt"``.
        known_speakers: Speaker names from metadata, used to recognise ``Name:`` prefixes.

    Returns:
        The parsed transcript; ``meta`` holds the VTT header fields and doc_type transcript.

    Raises:
        ParseError: Missing header, a cue without timing or a malformed timestamp; the
            message names the line.
    """
    lines = text.lstrip("\ufeff").split("\n")
    meta: dict[str, Any] = {"doc_type": "transcript"}
    if fmt == "vtt":
        if not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0].rstrip()):
            raise ParseError(name, "line 1: missing WEBVTT header")
        start = 1
    else:
        start = 0
    known = {s.casefold(): s for s in known_speakers}
    builder = TextBuilder()
    first_block = True
    for line_no, block in _blocks(lines, start):
        head = block[0]
        if fmt == "vtt" and (head.startswith("NOTE") and head[4:5] in ("", " ", "\t")):
            if first_block and not builder.elements:
                meta.update(_note_meta(name, block, line_no))
            first_block = False
            continue
        first_block = False
        if fmt == "vtt" and head.strip() in ("STYLE", "REGION"):
            continue
        timing_at = 0 if "-->" in head else 1
        if timing_at >= len(block) or "-->" not in block[timing_at]:
            raise ParseError(name, f"line {line_no}: expected a cue timing line ('start --> end')")
        t_line = line_no + timing_at
        start_s, end_s = _timing(name, block[timing_at], t_line, fmt)
        payload = block[timing_at + 1 :]
        speaker, spoken = _speaker_and_text(payload, fmt, known)
        builder.add(
            "cue",
            spoken,
            sep="\n",
            prefix=f"{speaker}: " if speaker else "",
            start_s=start_s,
            end_s=end_s,
            speaker=speaker,
        )
    if not builder.elements:
        raise ParseError(name, "no cues found")
    return builder.build(meta=meta)


def _blocks(lines: list[str], start: int) -> list[tuple[int, list[str]]]:
    """Split lines into blank-line separated blocks, each with its 1-based first line number."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for i in range(start, len(lines)):
        line = lines[i].rstrip()
        if not line.strip():
            if current:
                blocks.append((first, current))
                current = []
            continue
        if not current:
            first = i + 1
        current.append(line)
    if current:
        blocks.append((first, current))
    return blocks


def _note_meta(name: str, block: list[str], line_no: int) -> dict[str, Any]:
    body = "\n".join([block[0][4:].strip(), *block[1:]]).strip()
    try:
        data = parse_yaml(body) if body else None
    except yaml.YAMLError:
        logger.debug("NOTE block at line %s of %s is not YAML; ignored", line_no, name)
        return {}
    if not isinstance(data, dict):
        return {}
    return validate(data, f"{name} (NOTE header, line {line_no})")


def _timing(name: str, line: str, line_no: int, fmt: str) -> tuple[float, float]:
    match = _TIMING.match(line)
    if not match:
        raise ParseError(name, f"line {line_no}: malformed cue timing {line.strip()!r}")
    start = _seconds(name, match.group(1), line_no, fmt)
    end = _seconds(name, match.group(2), line_no, fmt)
    if end < start:
        raise ParseError(name, f"line {line_no}: cue ends before it starts")
    return start, end


def _seconds(name: str, stamp: str, line_no: int, fmt: str) -> float:
    match = (_VTT_TS if fmt == "vtt" else _SRT_TS).match(stamp)
    if not match:
        raise ParseError(name, f"line {line_no}: malformed timestamp {stamp!r}")
    hours, minutes, secs, frac = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(frac.ljust(3, "0")) / 1000


def _speaker_and_text(payload: list[str], fmt: str, known: dict[str, str]) -> tuple[str | None, str]:
    raw = " ".join(payload)
    speaker: str | None = None
    voice = _VOICE.search(raw)
    if voice:
        speaker = " ".join(voice.group(1).split()) or None
    spoken = " ".join(html.unescape(_TAG.sub("", raw)).split())
    if speaker is None:
        prefix = _PREFIX.match(spoken)
        if prefix and _is_speaker(prefix.group(1), known):
            name = prefix.group(1).strip()
            speaker = known.get(name.casefold(), name)
            spoken = prefix.group(2).strip()
    return speaker, spoken


def _is_speaker(name: str, known: dict[str, str]) -> bool:
    """Accept a ``Name:`` prefix that is a known speaker or looks like a person's name."""
    name = name.strip()
    if name.casefold() in known:
        return True
    words = name.split()
    if not 1 <= len(words) <= 6:
        return False
    capitalised = all(w[0].isupper() or w.casefold() in _PARTICLES for w in words) and words[0][0].isupper()
    return capitalised and (len(words) >= 2 or not known)
