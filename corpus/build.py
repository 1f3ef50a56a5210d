"""Rebuild the generated sample documents (PDF, DOCX, PPTX) and their sidecars from corpus/src.

Each source is Markdown with YAML front matter: ``output`` names the file to write under corpus/,
every other field goes to the ``<output>.meta.yaml`` sidecar. The output is deterministic.

Usage: ``python corpus/build.py`` builds everything; ``--check`` exits 1 if an output is stale.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# Footer label per document language; "{n}" is the page number.
PAGE_LABEL = dict(
    pair.split("=")
    for pair in "en=Page {n};fr=Page {n};es=Página {n};de=Seite {n};sk=Strana {n};cs=Strana {n};"  # noqa: SIM905
    "hu={n}. oldal;tr=Sayfa {n};pl=Strona {n};it=Pagina {n};el=Σελίδα {n};ro=Pagina {n};pt=Página {n};"
    "nl=Pagina {n};fi=Sivu {n};sv=Sida {n};uk=Сторінка {n};bg=Страница {n}".split(";")
)
Block = tuple[str, Any]


def parse(path: Path) -> tuple[dict[str, Any], list[Block]]:
    """Split a source into front matter and blocks: (h1|h2|h3|p, text), (ul|ol, items), (table, rows)."""
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta: dict[str, Any] = yaml.safe_load(front)
    blocks: list[Block] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for raw in body.splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,3}) (.+)", line)
        item = re.match(r"(- |\d+\. )(.+)", line)
        if not line:
            flush()
        elif heading:
            flush()
            blocks.append((f"h{len(heading.group(1))}", heading.group(2)))
        elif item:
            flush()
            kind = "ul" if item.group(1) == "- " else "ol"
            if not blocks or blocks[-1][0] != kind:
                blocks.append((kind, []))
            blocks[-1][1].append(item.group(2))
        elif line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            if not blocks or blocks[-1][0] != "table":
                blocks.append(("table", []))
            blocks[-1][1].append(cells)
        else:
            para.append(line)
    flush()
    return meta, blocks


def runs(text: str) -> list[tuple[str, bool, bool]]:
    """Split inline Markdown into (text, bold, italic) runs."""
    out = []
    for part in re.split(r"(\*\*[^*]+\*\*|\*[^*]+\*)", text):
        if part.startswith("**") and part.endswith("**"):
            out.append((part[2:-2], True, False))
        elif len(part) > 1 and part.startswith("*") and part.endswith("*"):
            out.append((part[1:-1], False, True))
        elif part:
            out.append((part, False, False))
    return out


def build_pdf(meta: dict[str, Any], blocks: list[Block]) -> bytes:
    """Render an A4 PDF with DejaVu fonts, outline entries for headings and page numbers."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import ListFlowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    for name, file in (
        ("DejaVuSans", "DejaVuSans.ttf"),
        ("DejaVuSans-Bold", "DejaVuSans-Bold.ttf"),
        ("DejaVuSans-Oblique", "DejaVuSans-Oblique.ttf"),
    ):
        if not (FONT_DIR / file).exists():
            sys.exit(f"missing font {FONT_DIR / file}: install the Debian package fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))
    pdfmetrics.registerFontFamily(
        "DejaVuSans",
        normal="DejaVuSans",
        bold="DejaVuSans-Bold",
        italic="DejaVuSans-Oblique",
        boldItalic="DejaVuSans-Bold",
    )
    base = ParagraphStyle(
        "body",
        fontName="DejaVuSans",
        fontSize=10,
        leading=14,
        spaceAfter=6,
        hyphenationLang="",
        embeddedHyphenation=0,
    )
    sizes = {"h1": (18, 16), "h2": (14, 12), "h3": (11.5, 8)}
    styles = {
        h: ParagraphStyle(
            h,
            parent=base,
            fontName="DejaVuSans-Bold",
            fontSize=s,
            leading=s * 1.3,
            spaceBefore=sb,
            spaceAfter=6,
            keepWithNext=1,
        )
        for h, (s, sb) in sizes.items()
    }
    small = ParagraphStyle(
        "small", parent=base, fontSize=8.5, leading=11, textColor=colors.HexColor("#444444")
    )
    cell = ParagraphStyle("cell", parent=base, fontSize=9, leading=12, spaceAfter=0)

    def markup(text: str) -> str:
        return "".join(
            f"<b>{escape(t)}</b>" if b else f"<i>{escape(t)}</i>" if i else escape(t)
            for t, b, i in runs(text)
        )

    story: list[Any] = []
    for kind, content in blocks:
        if kind in styles:
            story.append(Paragraph(markup(content), styles[kind]))
            if kind == "h1" and len(story) == 1:
                authors = ", ".join(a["name"].replace(" (fictional)", "") for a in meta.get("authors") or [])
                line = f"{meta['date']} · {meta['country']} · {meta['doc_type']}" + (
                    f" · {authors}" if authors else ""
                )
                story += [Paragraph(escape(line), small), Spacer(1, 10)]
        elif kind == "p":
            story.append(Paragraph(markup(content), base))
        elif kind in ("ul", "ol"):
            items = [Paragraph(markup(t), base) for t in content]
            story.append(
                ListFlowable(
                    items,
                    bulletType="bullet" if kind == "ul" else "1",
                    leftIndent=14,
                    bulletFontName="DejaVuSans",
                    bulletFontSize=9,
                    start=None if kind == "ol" else "•",
                )
            )
        elif kind == "table":
            rows = [
                [Paragraph(markup(f"**{c}**" if r == 0 else c), cell) for c in row]
                for r, row in enumerate(content)
            ]
            width = (A4[0] - 4 * cm) / len(content[0])
            table = Table(rows, colWidths=[width] * len(content[0]), repeatRows=1, hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF4")),
                    ]
                )
            )
            story += [table, Spacer(1, 8)]
    label = PAGE_LABEL.get(meta["language"], "Page {n}")

    def footer(canvas: Any, doc: Any) -> None:
        canvas.setFont("DejaVuSans", 8.5)
        canvas.drawCentredString(A4[0] / 2, 1.2 * cm, label.format(n=doc.page))

    class Doc(SimpleDocTemplate):
        def afterFlowable(self, flowable: Any) -> None:
            name = getattr(getattr(flowable, "style", None), "name", "")
            if name in styles:
                key = f"o{id(flowable)}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, level=int(name[1]) - 1)

    buf = io.BytesIO()
    doc = Doc(
        buf,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=meta["title"],
        author="CapaCITIES knowledge base",
        subject=meta["id"],
        lang=meta["language"],
        creator="corpus/build.py",
        invariant=1,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def set_core(props: Any, meta: dict[str, Any]) -> None:
    """Fix the Office core properties so that rebuilding gives the same bytes."""
    stamp = dt.datetime.combine(meta["date"], dt.time(12, 0))
    props.title, props.language, props.author = meta["title"], meta["language"], "CapaCITIES knowledge base"
    props.created = props.modified = stamp
    props.last_modified_by, props.revision = "corpus/build.py", 1


def build_docx(meta: dict[str, Any], blocks: list[Block]) -> bytes:
    """Render a DOCX with real heading, list and table styles."""
    import docx

    document = docx.Document()
    set_core(document.core_properties, meta)

    def fill(paragraph: Any, text: str) -> None:
        for t, bold, italic in runs(text):
            run = paragraph.add_run(t)
            run.bold, run.italic = bold or None, italic or None

    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            fill(document.add_heading(level=int(kind[1])), content)
        elif kind == "p":
            fill(document.add_paragraph(), content)
        elif kind in ("ul", "ol"):
            for item in content:
                fill(document.add_paragraph(style="List Bullet" if kind == "ul" else "List Number"), item)
        elif kind == "table":
            table = document.add_table(rows=len(content), cols=len(content[0]), style="Table Grid")
            for r, row in enumerate(content):
                for c, text in enumerate(row):
                    fill(table.cell(r, c).paragraphs[0], f"**{text}**" if r == 0 else text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def build_pptx(meta: dict[str, Any], blocks: list[Block]) -> bytes:
    """Render a PPTX: ``#`` is the title slide, each ``##`` opens a title-and-content slide."""
    import pptx

    deck = pptx.Presentation()
    set_core(deck.core_properties, meta)
    body = None
    for kind, content in blocks:
        if kind == "h1":
            slide = deck.slides.add_slide(deck.slide_layouts[0])
            slide.shapes.title.text = content.replace("*", "")
            slide.placeholders[1].text = f"{meta['date']} · {meta['country']}"
        elif kind == "h2":
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = content.replace("*", "")
            body = slide.placeholders[1].text_frame
            body.text = ""
        elif body is not None:
            lines = (
                content
                if kind in ("ul", "ol")
                else [" · ".join(r) for r in content]
                if kind == "table"
                else [content]
            )
            for line in lines:
                par = body.paragraphs[0] if not body.paragraphs[0].text else body.add_paragraph()
                for t, bold, italic in runs(line if kind != "h3" else f"**{line}**"):
                    run = par.add_run()
                    run.text, run.font.bold, run.font.italic = t, bold or None, italic or None
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def rezip(data: bytes) -> bytes:
    """Rewrite a zip package with fixed entry timestamps and order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(name))
    return out.getvalue()


def render(source: Path) -> dict[Path, bytes]:
    """Return the output file and its sidecar, as bytes keyed by path."""
    meta, blocks = parse(source)
    output = ROOT / meta.pop("output")
    suffix = output.suffix.lower()
    if suffix == ".pdf":
        data = build_pdf(meta, blocks)
    elif suffix in (".docx", ".pptx"):
        data = rezip((build_docx if suffix == ".docx" else build_pptx)(meta, blocks))
    else:
        raise SystemExit(f"{source}: unsupported output type {suffix}")
    sidecar = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=110).encode("utf-8")
    return {output: data, output.with_name(output.name + ".meta.yaml"): sidecar}


def main(argv: list[str]) -> int:
    """Build every source, or with ``--check`` report outputs that are missing or stale."""
    check = "--check" in argv
    stale = []
    for source in sorted((ROOT / "src").rglob("*.md")):
        for path, data in render(source).items():
            if check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"stale or missing: {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
