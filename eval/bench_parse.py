"""Parse benchmark: documents per second per format, PDF pages/s and transcript cues/s.

    python -m eval.bench_parse [PATH ...] [--repeat N] [--json out.json]

Defaults to corpus/; when that holds no files, generated fixtures (PDF, DOCX, PPTX, HTML,
Markdown, EML, VTT, SRT) are written to a temporary folder and parsed instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ingest.registry import iter_files, load_path

MAX_BYTES = 100_000_000
MAX_UNZIPPED = 500_000_000


def _fixtures(folder: Path) -> list[Path]:
    """Write one generated file per format (the unit-test fixtures, larger)."""
    from tests.unit.ingest.conftest import make_docx, make_pdf, make_pptx
    from tests.unit.ingest.test_loaders import SRT, VTT

    make_pdf(folder / "guide.pdf")
    make_docx(folder / "notes.docx")
    make_pptx(folder / "slides.pptx")
    (folder / "page.html").write_text("<h1>Case</h1>" + "<h2>Part</h2><p>Cities plan together.</p>" * 50)
    (folder / "notes.md").write_text("# Notes\n\n" + "## Part\n\nCities plan together.\n\n" * 50)
    (folder / "news.eml").write_text("From: a@example.org\nSubject: News\n\n" + "Cities plan together.\n\n" * 50)
    (folder / "webinar.vtt").write_text(VTT)
    (folder / "workshop.srt").write_text(SRT)
    return sorted(folder.iterdir())


def run(paths: list[Path], repeat: int) -> dict[str, Any]:
    """Parse every file ``repeat`` times and return throughput per format."""
    files = [p for p in iter_files(paths) if isinstance(p, Path)]
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    errors: list[str] = []
    load_path(files[0], max_bytes=MAX_BYTES, max_unzipped_bytes=MAX_UNZIPPED)  # warm imports
    for _ in range(repeat):
        for path in files:
            start = time.perf_counter()
            result = load_path(path, max_bytes=MAX_BYTES, max_unzipped_bytes=MAX_UNZIPPED)
            elapsed = time.perf_counter() - start
            errors += [str(e) for e in result.errors]
            for doc in result.docs:
                s = stats[doc.format]
                s["docs"] += 1
                s["seconds"] += elapsed / len(result.docs)
                s["pages"] += doc.pages or 0
                s["cues"] += sum(1 for el in doc.elements if el.kind == "cue")
                s["chars"] += len(doc.text)
    formats = {}
    for fmt, s in sorted(stats.items()):
        secs = s["seconds"] or 1e-9
        formats[fmt] = {
            "docs": int(s["docs"]),
            "seconds": round(secs, 4),
            "docs_per_s": round(s["docs"] / secs, 1),
            "chars_per_s": round(s["chars"] / secs),
            **({"pages_per_s": round(s["pages"] / secs, 1)} if fmt == "pdf" else {}),
            **({"cues_per_s": round(s["cues"] / secs)} if fmt in ("vtt", "srt") else {}),
        }
    return {"files": len(files), "repeat": repeat, "formats": formats, "errors": sorted(set(errors))}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: corpus/)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the files (default 3)")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    paths = args.paths or [Path("corpus")]
    with tempfile.TemporaryDirectory() as tmp:
        if not any(isinstance(p, Path) for p in iter_files(paths)):
            paths = _fixtures(Path(tmp))
        report = run(paths, args.repeat)
    print(json.dumps(report, indent=2))
    print(f"\n{'format':10} {'docs':>6} {'docs/s':>9} {'pages/s':>9} {'cues/s':>9}", file=sys.stderr)
    for fmt, s in report["formats"].items():
        print(
            f"{fmt:10} {s['docs']:>6} {s['docs_per_s']:>9} {s.get('pages_per_s', ''):>9} {s.get('cues_per_s', ''):>9}",
            file=sys.stderr,
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
