"""Document metadata: sidecars, folder manifests, validation and merging (languages: :mod:`ingest.languages`).

Precedence, lowest first: manifest ``defaults`` < manifest ``files`` entry < sidecar
``<file>.meta.yaml`` < values found in the file itself, which only fill fields the others
leave unset.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pycountry
import yaml

from ingest.errors import MetadataError
from ingest.models import COUNTRY_ALIASES, DOC_TYPES, DocMeta, Person, canonical_country

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.yaml"
MANIFEST_NAME = "kb-manifest.yaml"
DOC_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# EU for pan-European material, next to ISO 3166 (EL and UK are aliases: COUNTRY_ALIASES).
EXTRA_COUNTRIES = frozenset({"EU"})
# Every code check_country accepts (aliases included), for API schemas and pickers.
COUNTRY_CODES: tuple[str, ...] = tuple(
    sorted({c.alpha_2 for c in pycountry.countries} | EXTRA_COUNTRIES | set(COUNTRY_ALIASES))
)
# Bumped when the metadata a sidecar yields changes for the same bytes, so that unchanged
# files are indexed again: 2 stores ISO country codes (GR, not EL).
METADATA_VERSION = 2
# A " (fictional)" or " (fictitious)" after a name: the person is invented for the sample corpus.
FICTIONAL_MARK = re.compile(r"\s*\((fictional|fictitious)\)\s*$", re.IGNORECASE)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIST_FIELDS = ("audience", "topics", "sources")
_PERSON_FIELDS = ("authors", "speakers")
_KNOWN = set(DocMeta.model_fields) - {"extra"}


class _Loader(yaml.SafeLoader):
    """A safe loader that keeps dates as strings, so :func:`check_date` names a bad one."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, leaving dates as strings; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)


def sidecar_path(path: Path) -> Path:
    """Return the sidecar path of ``path`` (``<file>.meta.yaml``)."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: Path, fields: dict[str, Any]) -> None:
    """Write ``<file>.meta.yaml`` atomically."""
    sidecar = sidecar_path(path)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(yaml.safe_dump(fields, allow_unicode=True, sort_keys=True), encoding="utf-8")
    os.replace(tmp, sidecar)


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar written by :func:`write_sidecar`, or an empty mapping."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return {}
    data = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def metadata_files(path: Path, root: Path | None = None) -> list[Path]:
    """The manifests and the sidecar that give ``path`` its metadata, in precedence order."""
    candidates = [folder / MANIFEST_NAME for folder in _folders(path, root)] + [sidecar_path(path)]
    return [p for p in candidates if p.is_file()]


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping.

    Raises:
        MetadataError: Unreadable file, bad YAML or a top level that is not a mapping.
    """
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(str(path), f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise MetadataError(str(path), f"invalid YAML: {reason}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MetadataError(str(path), "top level must be a mapping")
    return raw


def external_meta(path: Path, root: Path | None = None) -> dict[str, Any]:
    """Collect and validate the metadata given outside the file, merged by precedence.

    Manifests are read from every folder between ``root`` and the file's folder (nearer
    folders win); without ``root`` only the file's own folder counts.

    Args:
        path: The document's path.
        root: The folder ingestion started from.

    Returns:
        Validated fields (see :func:`validate`), only those that were given.

    Raises:
        MetadataError: A manifest or sidecar is invalid; the message names file and field.
    """
    merged: dict[str, Any] = {}
    for folder in _folders(path, root):
        manifest = folder / MANIFEST_NAME
        if not manifest.is_file():
            continue
        data = read_yaml(manifest)
        defaults = data.get("defaults") or {}
        files = data.get("files") or {}
        if not isinstance(defaults, dict):
            raise MetadataError(str(manifest), "field defaults: must be a mapping")
        if not isinstance(files, dict):
            raise MetadataError(str(manifest), "field files: must be a mapping of file name to fields")
        merged.update(validate(defaults, str(manifest)))
        key = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.name
        entry = files.get(key)
        if entry is not None:
            if not isinstance(entry, dict):
                raise MetadataError(str(manifest), f"field files.{key}: must be a mapping")
            merged.update(validate(entry, f"{manifest} (files.{key})"))
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        merged.update(validate(read_yaml(sidecar), str(sidecar)))
    return merged


def _folders(path: Path, root: Path | None) -> list[Path]:
    parent = path.parent
    if root is None or not parent.is_relative_to(root):
        return [parent]
    chain = [parent]
    while chain[-1] != root and chain[-1] != chain[-1].parent:
        chain.append(chain[-1].parent)
    return list(reversed(chain))


def validate(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check and normalise metadata fields; unknown fields go to ``extra``.

    Args:
        raw: Fields as read from YAML or JSON.
        source: Name of the file (and entry) they came from, for error messages.

    Returns:
        The fields present in ``raw``, normalised (uppercase country, lowercase language,
        dates as :class:`datetime.date`, people as :class:`Person`).

    Raises:
        MetadataError: A field has a bad value; the message names it.
    """
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key not in _KNOWN:
            extra[str(key)] = value
            continue
        try:
            out[key] = _field(key, value)
        except ValueError as exc:
            raise MetadataError(source, f"field {key}: {exc}") from None
    if extra:
        out["extra"] = extra
    return out


def _field(key: str, value: Any) -> Any:
    if key == "id":
        value = str(value)
        if not DOC_ID_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid id ([A-Za-z0-9][A-Za-z0-9._:-]{{0,127}})")
        return value
    if key == "country":
        return check_country(value)
    if key == "language":
        return check_language(value)
    if key == "doc_type":
        if value not in DOC_TYPES:
            raise ValueError(f"unknown doc_type {value!r} (expected one of {', '.join(DOC_TYPES)})")
        return value
    if key == "date":
        return check_date(value)
    if key in _LIST_FIELDS:
        items = [value] if isinstance(value, str | int) else value
        if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
            raise ValueError("must be a list of strings")
        return [str(i) for i in items]
    if key in _PERSON_FIELDS:
        if not isinstance(value, list):
            raise ValueError("must be a list of people")
        return [person(p) for p in value]
    if not isinstance(value, str | int | float):
        raise ValueError("must be a string")
    return str(value)


def check_country(value: Any) -> str:
    """Return the canonical ISO 3166 alpha-2 code (EL gives GR, UK gives GB; EU stays EU).

    Raises:
        ValueError: Not a country code, naming the value.
    """
    code = canonical_country(str(value))
    if code in EXTRA_COUNTRIES or (len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None):
        return code
    raise ValueError(f"unknown country code {str(value).strip()!r}: use ISO 3166 alpha-2 (such as SE or GR) or EU")


def check_language(value: Any) -> str:
    """Return the lowercase ISO 639-1 code; raise ValueError otherwise."""
    code = str(value).strip().lower()
    if len(code) == 2 and pycountry.languages.get(alpha_2=code) is not None:
        return code
    raise ValueError(f"{value!r} is not an ISO 639-1 language code")


def check_date(value: Any) -> dt.date:
    """Return a date from a YAML date or a ``YYYY-MM-DD`` string; raise ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"{value!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date") from None


def person(value: Any) -> Person:
    """Build a :class:`Person` from a name or a mapping; a " (fictional)" suffix sets the flag."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise ValueError("each person needs a name")
    name = value["name"].strip()
    fictional = bool(FICTIONAL_MARK.search(name)) or bool(value.get("fictional", False))
    country = value.get("country")
    return Person(
        name=FICTIONAL_MARK.sub("", name),
        organisation=_opt_str(value.get("organisation")),
        country=check_country(country) if country else None,
        role=_opt_str(value.get("role")),
        fictional=fictional,
    )


def _opt_str(value: Any) -> str | None:
    return str(value).strip() if value is not None else None


def merge(external: Mapping[str, Any], internal: Mapping[str, Any]) -> dict[str, Any]:
    """Fill fields the external metadata leaves unset with values found in the file itself."""
    merged = dict(external)
    for key, value in internal.items():
        if key == "extra":
            merged["extra"] = {**value, **merged.get("extra", {})}
        elif merged.get(key) in (None, [], "") and value not in (None, [], ""):
            merged[key] = value
    return merged


def build_meta(fields: Mapping[str, Any], source: str) -> DocMeta:
    """Turn merged fields into a :class:`DocMeta`, naming ``source`` on failure."""
    try:
        return DocMeta(**fields)
    except (ValueError, TypeError) as exc:
        raise MetadataError(source, f"invalid metadata: {' '.join(str(exc).split())}") from None
