"""Fixture files for the loader tests, generated on the fly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ingest.models import SourceDoc
from ingest.registry import LoadResult, load_path

LIMITS = {"max_bytes": 5_000_000, "max_unzipped_bytes": 20_000_000}

PARAGRAPH = (
    "National support structures help Mission cities turn their climate city contracts into "
    "investment. They convene ministries, translate EU requirements and unblock regulation. "
)


def load(path: Path, **kwargs: object) -> LoadResult:
    """Load with test limits."""
    return load_path(path, **{**LIMITS, **kwargs})  # type: ignore[arg-type]


def load_one(path: Path) -> SourceDoc:
    """Load a file that must give exactly one document and no error."""
    result = load(path)
    assert result.errors == []
    assert len(result.docs) == 1
    doc = result.docs[0]
    assert_spans(doc)
    return doc


def assert_spans(doc: SourceDoc) -> None:
    """Every element's span indexes its own text, in order and without overlap."""
    assert doc.elements
    end = 0
    for el in doc.elements:
        assert doc.text[el.span.start : el.span.end] == el.text
        assert el.span.start >= end
        end = el.span.end


def make_pdf(path: Path, *, encrypt: str | None = None, user_password: str = "") -> Path:
    """A 3-page PDF: title, two heading levels, paragraphs, a list and 'Page n' footers."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=14, spaceAfter=8)
    h1 = ParagraphStyle("h1", fontName="Helvetica-Bold", fontSize=18, leading=22, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName="Helvetica-Bold", fontSize=14, leading=18, spaceAfter=6)
    story = [
        Paragraph("Guide to national support", h1),
        Paragraph(PARAGRAPH * 3, body),
        Paragraph("Why a national layer", h2),
        Paragraph(PARAGRAPH * 2, body),
        Paragraph("Second paragraph on the first page.", body),
        PageBreak(),
        Paragraph("Models of support", h2),
        Paragraph("Sweden runs a programme model. " + PARAGRAPH, body),
        PageBreak(),
        Paragraph("Lessons learned", h1),
        Paragraph("Spain runs a platform model. " + PARAGRAPH, body),
    ]

    def footer(canvas: object, doc: object) -> None:
        canvas.setFont("Helvetica", 8)  # type: ignore[attr-defined]
        canvas.drawCentredString(A4[0] / 2, 30, f"Page {doc.page}")  # type: ignore[attr-defined]

    kwargs: dict[str, object] = {}
    if encrypt is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        kwargs["encrypt"] = StandardEncryption(user_password, ownerPassword=encrypt)
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Core title of the guide", **kwargs).build(
        story, onFirstPage=footer, onLaterPages=footer
    )
    path.write_bytes(buf.getvalue())
    return path


def make_docx(path: Path) -> Path:
    """A DOCX with a title, two heading levels, paragraphs, a list item and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Core title of the notes"
    document.add_heading("Session notes", level=1)
    document.add_paragraph(PARAGRAPH)
    document.add_heading("Funding instruments", level=2)
    document.add_paragraph("Green bonds were discussed at length by the participants.")
    document.add_paragraph("Energy performance contracting", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Instrument"
    table.cell(0, 1).text = "Country"
    table.cell(1, 0).text = "Green bond"
    table.cell(1, 1).text = "SE"
    document.add_heading("Next steps", level=1)
    document.add_paragraph("The group meets again in June to review the draft contracts.")
    document.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    """A PPTX with three slides, each with a title and a body text."""
    from pptx import Presentation

    prs = Presentation()
    for n in range(1, 4):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"Slide title {n}"
        slide.placeholders[1].text = f"Body text of slide {n} explains the financing instrument."
    prs.save(str(path))
    return path


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    """A generated three-page PDF."""
    return make_pdf(tmp_path / "guide.pdf")
