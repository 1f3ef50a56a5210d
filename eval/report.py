"""Results files: JSON plus a Markdown table, and a diff against the last committed run."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def previous_results(path: Path) -> dict[str, Any] | None:
    """The last committed version of a results file, else the one on disk, else ``None``."""
    try:
        rel = path.resolve().relative_to(REPO)
        shown = subprocess.run(
            ["git", "show", f"HEAD:{rel.as_posix()}"], cwd=REPO, capture_output=True, text=True, check=False
        )
        if shown.returncode == 0:
            return dict(json.loads(shown.stdout))
    except (ValueError, OSError, json.JSONDecodeError):
        pass
    if path.exists():
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            return None
    return None


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested results as ``a.b.c`` keys."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def diff(previous: Mapping[str, Any] | None, current: Mapping[str, Any], section: str = "metrics") -> list[str]:
    """Markdown lines comparing the metrics of two runs (only values that changed)."""
    if previous is None:
        return ["No previous run to compare with."]
    old = flatten(previous.get(section, {}))
    new = flatten(current.get(section, {}))
    lines = ["| metric | previous | current | change |", "|---|---|---|---|"]
    changed = 0
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        changed += 1
        delta = f"{b - a:+.4f}" if a is not None and b is not None else "new" if a is None else "gone"
        lines.append(f"| {key} | {_fmt(a)} | {_fmt(b)} | {delta} |")
    if not changed:
        return ["No metric changed since the previous run."]
    return lines


def table(groups: Mapping[str, Mapping[str, Any]], columns: list[str], title: str = "group") -> list[str]:
    """A Markdown table: one row per group, one column per metric."""
    lines = [f"| {title} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in groups.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(values.get(c)) for c in columns) + " |")
    return lines


def write(name: str, results: dict[str, Any], markdown: list[str], folder: Path = RESULTS_DIR) -> Path:
    """Write ``<name>.json`` and ``<name>.md`` (with the diff appended) and return the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    previous = previous_results(path)
    text = "\n".join([*markdown, "", "## Change since the previous run", "", *diff(previous, results), ""])
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
    logger.info("wrote %s", path)
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
