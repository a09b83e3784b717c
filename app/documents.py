"""Generated documents (PDF), stored with their SHA-256 and versioned.

``generate_document`` is the job behind the workflows' ``pdf`` effect: it
renders the named template from the data as it is now and stores a new
version; older versions are kept."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import secrets
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from flask import current_app
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from xml.sax.saxutils import escape

from app import audit
from app.extensions import db
from app.formatting import local_date, local_datetime, money, money_short, number
from app.models import Application, Attachment, Document

PARIS = ZoneInfo("Europe/Paris")
REGION_BLUE = colors.HexColor("#003b80")

# --- storage -------------------------------------------------------------------


def documents_folder() -> Path:
    folder = Path(current_app.config["DOCUMENTS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def document_path(document: Document) -> Path:
    return documents_folder() / document.stored_name


def store_document(session: Session, application: Application | None, kind: str, content: bytes,
                   actor_id: int | None = None) -> Document:
    """Write ``content`` under a random name and record it as the next version."""
    application_id = application.id if application is not None else None
    last = session.execute(
        select(func.max(Document.version)).where(Document.application_id == application_id, Document.kind == kind)
    ).scalar()
    stored_name = secrets.token_hex(16) + ".pdf"
    (documents_folder() / stored_name).write_bytes(content)
    document = Document(application_id=application_id, kind=kind, version=(last or 0) + 1, stored_name=stored_name,
                        sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content), created_by_id=actor_id)
    session.add(document)
    session.flush()
    audit.record(session, actor=actor_id, role="system" if actor_id is None else None, object_type="document",
                 object_id=document.id, action="generate_document",
                 after={"kind": kind, "version": document.version, "sha256": document.sha256,
                        "application": application.reference if application else None})
    return document


def latest_document(session: Session, application: Application, kind: str) -> Document | None:
    return session.execute(
        select(Document).where(Document.application_id == application.id, Document.kind == kind)
        .order_by(Document.version.desc()).limit(1)
    ).scalar_one_or_none()


def send_document(document: Document, download_name: str):
    """A stored PDF as a download (the caller has checked the permission)."""
    from flask import send_file

    return send_file(document_path(document), mimetype="application/pdf", as_attachment=True,
                     download_name=download_name, max_age=0)


def receipt_name(application: Application) -> str:
    return f"accuse-reception-{application.reference}.pdf"


# --- layout ------------------------------------------------------------------------

_FONTS_READY: dict[str, tuple[str, str]] = {}


class _SubsetCache:
    """The embedded subsets of one TrueType font, kept for the next documents.

    A PDF embeds, per font, the glyphs it uses in the order of their first use:
    the subset's font file, compressed, its widths and its text mapping are
    rebuilt for every document. The same glyphs in the same order always make
    the same bytes, and a letter's fonts mostly draw the same fixed words (the
    band, the headings, the labels, the legal mentions) in the same order — the
    bold font nothing else —, so their subsets recur from one letter of a kind to
    the next: the latest ``SIZE`` subsets are kept, raw and compressed, with
    their formatted widths. A new glyph (a rare letter in a name) makes a new
    subset, built as before. The PDF's bytes are unchanged (tests)."""

    SIZE = 8

    def __init__(self, font: TTFont) -> None:
        import threading
        from collections import OrderedDict

        self.font, face = font, font.face
        self._make, self._add, self._add_font = face.makeSubset, face.addSubsetObjects, font.addObjects
        self._entries: OrderedDict[tuple[int, ...], dict] = OrderedDict()
        self._lock = threading.Lock()
        face.makeSubset, face.addSubsetObjects = self.make_subset, self.add_subset_objects
        font.addObjects = self.add_objects

    def _entry(self, subset) -> dict:
        key = tuple(subset)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        entry = {"font": self._make(subset)}
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)
        return entry

    def make_subset(self, subset) -> bytes:
        return self._entry(subset)["font"]

    def add_subset_objects(self, doc, fontname, subset):
        reference = self._add(doc, fontname, subset)
        # ReportLab's names of the objects it made (pdfbase/ttfonts.py); left alone when not found.
        stream = doc.idToObject.get(f"fontFile:{self.font.face.filename}({fontname})")
        if stream is not None and stream.filters:
            stream.filters = [_CachedFlate(self._entry(subset), "font")]
        return reference

    def add_objects(self, doc) -> None:
        from reportlab.pdfbase import pdfdoc

        state = self.font.state.get(doc)
        subsets = [list(subset) for subset in state.subsets] if state is not None else []
        names = [self.font.getSubsetInternalName(n, doc)[1:] for n in range(len(subsets))]
        self._add_font(doc)
        fonts_dict = doc.idToObject["BasicFonts"].dict
        for name, subset in zip(names, subsets):
            pdf_font = fonts_dict.get(name)
            if pdf_font is None or not isinstance(getattr(pdf_font, "Widths", None), pdfdoc.PDFArray):
                continue
            entry = self._entry(subset)
            if "widths" not in entry:
                entry["widths"] = pdfdoc.format(pdf_font.Widths, doc)
            pdf_font.Widths = entry["widths"]
            cmap = doc.idToObject.get(f"toUnicodeCMap:{pdf_font.BaseFont}")
            if cmap is not None and cmap.filters:
                cmap.filters = [_CachedFlate(entry, "cmap")]


class _CachedFlate:
    """ReportLab's Flate filter (``pdfdoc.PDFZCompress``), remembering the compressed bytes of one
    part (``name``) of a font subset; other content is compressed as usual."""

    pdfname = "FlateDecode"

    def __init__(self, entry: dict, name: str) -> None:
        self.entry, self.name = entry, name

    def encode(self, content) -> bytes:
        import zlib

        raw = content.encode("utf8") if isinstance(content, str) else content
        packed = self.entry.get(f"{self.name}:flate")
        if packed is not None and self.entry.get(f"{self.name}:raw") == raw:
            return packed
        packed = zlib.compress(raw)
        self.entry[f"{self.name}:raw"], self.entry[f"{self.name}:flate"] = raw, packed
        return packed

    def decode(self, encoded: bytes) -> bytes:
        import zlib

        return zlib.decompress(encoded)


def _register(name: str, path: Path) -> None:
    font = TTFont(name, str(path))
    _SubsetCache(font)
    pdfmetrics.registerFont(font)


def fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans (every French character, €, narrow
    no-break spaces) when found, else ReportLab's bundled Vera."""
    font_dir = Path(current_app.config["PDF_FONT_DIR"])
    key = str(font_dir)
    if key not in _FONTS_READY:
        regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            _register("GuichetSans", regular)
            _register("GuichetSans-Bold", bold)
        else:
            import reportlab

            bundled = Path(reportlab.__file__).parent / "fonts"
            _register("GuichetSans", bundled / "Vera.ttf")
            _register("GuichetSans-Bold", bundled / "VeraBd.ttf")
        _FONTS_READY[key] = ("GuichetSans", "GuichetSans-Bold")
    return _FONTS_READY[key]


def _text(value: object) -> str:
    # Vera has no narrow no-break space; a plain no-break space reads the same.
    return escape(str(value)).replace("\u202f", "\u00a0")


# Breaking spaces: every white space but the no-break one (as ReportLab's Paragraph splits words).
_BREAKING_SPACES = re.compile(r"[^\S\u00a0]+")


class TextBlock(Flowable):
    """Plain text (no markup) in a paragraph style, laid out as ReportLab's
    ``Paragraph`` lays out plain text — words split at breaking spaces (a no-break
    space holds), the same greedy filling of lines with the style's space
    shrinkage, too long words cut, no orphan line, left or right alignment; with
    ``breaks`` a new line at each ``\\n`` (else a line break is a space, as in a
    Paragraph) — but without the markup parser; drawn as Paragraph draws it.
    A letter is mostly such text, and parsing and drawing it through
    ``Paragraph`` was the largest part of a letter's time (bench/FINDINGS.md)."""

    def __init__(self, text: str, style: ParagraphStyle, lines: list[tuple[float, str]] | None = None,
                 breaks: bool = False) -> None:
        super().__init__()
        self.text = text
        self.style = style
        self.breaks = breaks
        self._lines = lines  # (spare width, text of the line); given to the parts of a split
        self._fixed = lines is not None
        self._width_broken: float | None = None
        self.width = self.height = 0

    def _hard_lines(self) -> list[list[str]]:
        if not self.text.strip():
            return []
        text = self.text.strip().replace("\u202f", "\u00a0")
        return [[w for w in _BREAKING_SPACES.split(line) if w] for line in (text.split("\n") if self.breaks else [text])]

    def _break(self, width: float) -> list[tuple[float, str]]:
        style = self.style
        font, size = style.fontName, style.fontSize
        width -= style.leftIndent + style.rightIndent
        space = pdfmetrics.stringWidth(" ", font, size)
        shrink = style.spaceShrinkage * space
        out: list[tuple[float, str]] = []
        for words in self._hard_lines():
            line: list[str] = []
            used = -space  # the first word of a line has no space before it
            pending = words[::-1]
            while pending:
                word = pending.pop()
                word_width = pdfmetrics.stringWidth(word, font, size)
                if word_width > width and style.splitLongWords:
                    head, rest = self._cut(word, width - (used + space), width, font, size)
                    if not head:  # not a character fits after the words already on the line
                        out.append((width - used, " ".join(line)))
                        line, used = [], -space
                        pending.append(word)
                        continue
                    line.append(head)
                    out.append((width - (used + space + pdfmetrics.stringWidth(head, font, size)), " ".join(line)))
                    line, used = [], -space
                    if rest:
                        pending.append(rest)
                    continue
                new = used + space + word_width
                if new > width + shrink * len(line) and line:
                    out.append((width - used, " ".join(line)))
                    line, new = [], word_width
                line.append(word)
                used = new
            out.append((width - used, " ".join(line)) if line else (width, ""))
        return out

    @staticmethod
    def _cut(word: str, room: float, width: float, font: str, size: float) -> tuple[str, str]:
        """The longest start of ``word`` that fits in ``room`` (one character at least on an empty line)."""
        used = 0.0
        for n, char in enumerate(word):
            used += pdfmetrics.stringWidth(char, font, size)
            if used > room:
                if n == 0 and room >= width:
                    return word[:1], word[1:]
                return word[:n], word[n:]
        return word, ""

    def wrap(self, availWidth, availHeight):  # noqa: N803 - ReportLab's names
        if not self._fixed and (self._lines is None or self._width_broken != availWidth):
            self._lines, self._width_broken = self._break(availWidth), availWidth
        self.width = availWidth
        self.height = len(self._lines) * self.style.leading
        return self.width, self.height

    def split(self, availWidth, availHeight):  # noqa: N803
        self.wrap(availWidth, availHeight)
        fit = int(availHeight / float(self.style.leading)) if availHeight > 0 else 0
        if fit == 0 or (fit <= 1 and not self.style.allowOrphans):
            return []
        if len(self._lines) <= fit:
            return [self]
        return [TextBlock(self.text, self.style, self._lines[:fit], self.breaks),
                TextBlock(self.text, self.style, self._lines[fit:], self.breaks)]

    def minWidth(self):  # noqa: N802 - ReportLab's name
        style = self.style
        widths = [pdfmetrics.stringWidth(w, style.fontName, style.fontSize) for line in self._hard_lines() for w in line]
        return max(widths, default=0) + style.leftIndent + style.rightIndent

    def draw(self):
        self.draw_text(self.canv, 0, 0)

    def draw_text(self, canvas, x: float, y: float) -> None:
        """Draw the wrapped block with its bottom left corner at (x, y) of the canvas's current
        coordinates, without the state saved and the origin moved that ``drawOn`` costs (the cells of
        ``Rows``); the fill colour is left at the style's."""
        if not self._lines:
            return
        style = self.style
        canvas.setFillColor(style.textColor)
        right = style.alignment == TA_RIGHT
        # one text object, each line moved down by the leading, as Paragraph draws its lines
        text = canvas.beginText(x + style.leftIndent, y + self.height - style.fontSize)
        text.setFont(style.fontName, style.fontSize, style.leading)
        for spare, line in self._lines:
            spaces = line.count(" ") + line.count("\u00a0")
            if spare < 0 and spaces:  # squeezed by the space shrinkage: narrower spaces, as Paragraph draws it
                text.setWordSpace(spare / spaces)
                text.textLine(line)
                text.setWordSpace(0)
            elif right and spare > 1e-6:
                text.setXPos(spare)
                text.textLine(line)
                text.setXPos(-spare)
            else:
                text.textLine(line)
        canvas.drawText(text)


class Rows(Flowable):
    """A table of short plain-text rows (a letter's references, its amounts, its payment
    schedule), drawn as ``Layout.table`` draws them — the same column widths, cell padding
    (6 pt left and right, 3 pt above and below), cells aligned to the top, a thin grey rule
    under each row, centred on the frame as a ``Table`` is, with ``header`` the first row on
    a pale blue background and repeated at the top of each page — without ReportLab's
    general ``Table`` machinery, which was the largest part of a letter's drawing left
    (bench/FINDINGS.md). Splits between rows only: for rows that may be taller than a page,
    use ``Layout.table``."""

    PAD_X, PAD_Y = 6, 3
    RULE = colors.HexColor("#bbbbbb")
    HEADER = colors.HexColor("#e8edf5")

    def __init__(self, cells: list[list[TextBlock]], widths: list[float], header: bool = False) -> None:
        super().__init__()
        self.hAlign = "CENTER"  # as Table's: a table as wide as the frame overhangs its padding evenly
        self.cells, self.widths, self.header = cells, widths, header
        self.heights: list[float] = []
        self.width = self.height = 0

    def wrap(self, availWidth, availHeight):  # noqa: N803 - ReportLab's names
        self.heights = [max(cell.wrap(w - 2 * self.PAD_X, availHeight)[1] for cell, w in zip(row, self.widths))
                        + 2 * self.PAD_Y for row in self.cells]
        self.width, self.height = sum(self.widths), sum(self.heights)
        return self.width, self.height

    def split(self, availWidth, availHeight):  # noqa: N803
        self.wrap(availWidth, availHeight)
        used, fit = 0.0, 0
        for height in self.heights:
            if used + height > availHeight:
                break
            used, fit = used + height, fit + 1
        if fit == 0 or (self.header and fit == 1):  # a header alone is not left at the foot of a page
            return []
        if fit == len(self.cells):
            return [self]
        rest = ([self.cells[0]] if self.header else []) + self.cells[fit:]
        return [Rows(self.cells[:fit], self.widths, self.header), Rows(rest, self.widths, self.header)]

    def draw(self):
        canvas = self.canv
        top = self.height
        if self.header and self.cells:
            canvas.saveState()
            canvas.setFillColor(self.HEADER)
            canvas.rect(0, top - self.heights[0], self.width, self.heights[0], stroke=0, fill=1)
            canvas.restoreState()
        for row, height in zip(self.cells, self.heights):
            x = 0.0
            for cell, width in zip(row, self.widths):
                cell.draw_text(canvas, x + self.PAD_X, top - self.PAD_Y - cell.height)
                x += width
            top -= height
            canvas.saveState()
            canvas.setStrokeColor(self.RULE)
            canvas.setLineWidth(0.3)
            canvas.line(0, top, self.width, top)
            canvas.restoreState()


# What ``Layout._compose`` lays out (the rest goes through Platypus).
_COMPOSABLE = (TextBlock, Rows, Spacer)

_STYLES: dict[tuple[str, str], dict[str, ParagraphStyle]] = {}


def _styles(regular: str, bold: str) -> dict[str, ParagraphStyle]:
    """The paragraph styles of the Region's documents, built once per process (per pair of fonts)."""
    if (regular, bold) not in _STYLES:
        base = getSampleStyleSheet()
        body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9.5, leading=13)
        _STYLES[(regular, bold)] = {
            "body": body,
            "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#333333")),
            "h1": ParagraphStyle("h1", parent=base["Heading1"], fontName=bold, fontSize=16, textColor=REGION_BLUE),
            # keepWithNext off: a heading followed by a table longer than a page would not fit.
            "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=11.5, textColor=REGION_BLUE,
                                 spaceBefore=8, keepWithNext=0),
            "right": ParagraphStyle("right", parent=body, alignment=TA_RIGHT),
            "label": ParagraphStyle("label", parent=body, fontName=bold, spaceBefore=4),
            "answer": ParagraphStyle("answer", parent=body, leftIndent=8 * mm),
        }
    return _STYLES[(regular, bold)]


_TABLE_RULES = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#bbbbbb"))]
_TABLE_HEADER = [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf5"))]


class Layout:
    """The Region's page: header band, title, references, numbered pages."""

    def __init__(self, title: str, reference: str) -> None:
        self.title = title
        self.reference = reference
        regular, bold = fonts()
        self.regular, self.bold = regular, bold
        styles = _styles(regular, bold)
        self.body, self.small, self.h1, self.h2 = styles["body"], styles["small"], styles["h1"], styles["h2"]
        self.right, self.label, self.answer = styles["right"], styles["label"], styles["answer"]

    def p(self, text: object, style: ParagraphStyle | None = None, breaks: bool = False) -> Flowable:
        """``text`` as it is (no markup) in ``style``; with ``breaks`` its line breaks are kept."""
        style = style or self.body
        if style.alignment not in (TA_LEFT, TA_RIGHT) or style.firstLineIndent:  # not a style of ours
            return Paragraph(_text(text).replace("\n", "<br/>") if breaks else _text(text), style)
        return TextBlock(str(text), style, breaks=breaks)

    def rows(self, rows: list[list[object]], widths: list[float], header: bool = False) -> Flowable:
        """Short plain-text rows drawn as ``table`` draws them, faster (``Rows``)."""
        cells = [[c if isinstance(c, TextBlock) else self.p(c) for c in row] for row in rows]
        if all(isinstance(c, TextBlock) for row in cells for c in row):
            return Rows(cells, widths, header)
        return self.table(rows, widths, header)

    def table(self, rows: list[list[object]], widths: list[float], header: bool = False) -> Table:
        data = [[c if isinstance(c, Flowable) else self.p(c) for c in row] for row in rows]
        # splitInRow: a row taller than a page (a long answer) continues on the next page.
        table = Table(data, colWidths=widths, repeatRows=1 if header else 0, splitInRow=1)
        table.setStyle(TableStyle(_TABLE_RULES + (_TABLE_HEADER if header else [])))
        return table

    def _page(self, canvas, doc) -> None:
        canvas.saveState()
        width, height = A4
        canvas.setFillColor(REGION_BLUE)
        canvas.rect(0, height - 22 * mm, width, 22 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(self.bold, 13)
        canvas.drawString(18 * mm, height - 13 * mm, "Région Grand Est")
        canvas.setFont(self.regular, 9)
        canvas.drawString(18 * mm, height - 18 * mm, "Guichet des aides — Plan régional pour l'intelligence artificielle")
        canvas.drawRightString(width - 18 * mm, height - 13 * mm, self.reference)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.setFont(self.regular, 8)
        canvas.drawString(18 * mm, 10 * mm, f"{self.title} — {self.reference}")
        canvas.restoreState()

    def _doc(self, buffer: io.BytesIO) -> SimpleDocTemplate:
        return SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=30 * mm,
                                 bottomMargin=18 * mm, title=f"{self.title} {self.reference}", author="Région Grand Est")

    def build(self, story: list, platypus: bool = False) -> bytes:
        """The PDF of ``story``. A story made only of ``TextBlock``, ``Rows`` and ``Spacer`` (the letters)
        is laid out by ``_compose``, which gives the same pages as Platypus without its machinery;
        any other story — or ``platypus`` — goes through Platypus's ``SimpleDocTemplate``."""
        if not platypus and all(type(f) in _COMPOSABLE and not f.getKeepWithNext() for f in story):
            return self._compose(story)
        buffer = io.BytesIO()
        font = self.regular
        self._doc(buffer).build(list(story), onFirstPage=self._page, onLaterPages=self._page,
                                canvasmaker=lambda *a, **k: NumberedCanvas(*a, font=font, **k))
        return buffer.getvalue()

    def _compose(self, story: list) -> bytes:
        """Lay ``story`` out as ``SimpleDocTemplate`` lays it out in its one frame a page — the frame's 6 pt
        padding, no space before the first flowable of a page, a flowable's space before reduced by the
        space after the one above it (ReportLab's ``overlapAttachedSpace``), a flowable that does not fit
        split or moved to the next page — then draw the pages, each with its band and its « Page n / N »:
        the number of pages is known before the first page is drawn, so no page is kept aside as
        ``NumberedCanvas`` keeps them. Only for flowables whose layout depends on the width alone and
        is kept until drawn (``_COMPOSABLE``)."""
        from reportlab.platypus.doctemplate import LayoutError

        buffer = io.BytesIO()
        doc = self._doc(buffer)
        doc._calc()
        pad = 6  # Frame's default paddings
        x, width = doc.leftMargin + pad, doc.width - 2 * pad
        top, bottom = doc.bottomMargin + doc.height - pad, doc.bottomMargin + pad
        pages: list[list[tuple[Flowable, float, float, float]]] = [[]]
        y, at_top, space_after = top, True, 0.0
        postponed: set[int] = set()

        def room(flowable: Flowable) -> tuple[float, float]:
            before = 0.0 if at_top else max(flowable.getSpaceBefore() - space_after, 0)
            return before, y - bottom - before

        def add(flowable: Flowable) -> bool:
            nonlocal y, at_top, space_after
            before, height = room(flowable)
            if height <= 0:
                return False
            w, h = flowable.wrap(width, height)
            if y - h - before < bottom - 1e-6:
                return False
            pages[-1].append((flowable, x, y - h - before, width - w))
            space_after = flowable.getSpaceAfter()
            below = y - h - before - space_after
            if below != y:
                at_top = False
            y = below
            return True

        pending = list(story)
        while pending:
            flowable = pending.pop(0)
            if add(flowable):
                continue
            _before, height = room(flowable)
            parts = flowable.split(width, height) if height > 0 else []
            if parts:
                if not add(parts[0]):
                    raise LayoutError(f"{type(flowable).__name__} split but its first part does not fit")
                pending[0:0] = parts[1:]
            elif id(flowable) in postponed:
                raise LayoutError(f"{type(flowable).__name__} too large for a page")
            else:  # to the top of the next page
                postponed.add(id(flowable))
                pending.insert(0, flowable)
                pages.append([])
                y, at_top, space_after = top, True, 0.0

        canvas = doc._makeCanvas(filename=buffer, canvasmaker=Canvas)
        total = len(pages)
        for number, placed in enumerate(pages, start=1):
            self._page(canvas, doc)
            for flowable, fx, fy, spare in placed:
                flowable.drawOn(canvas, fx, fy, _sW=spare)
            _page_number(canvas, self.regular, number, total)
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()


class NumberedCanvas(Canvas):
    """Writes "Page n / N" once the number of pages is known (pages are kept
    until the document is saved)."""

    def __init__(self, *args, font: str = "Helvetica", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []
        self._font = font

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            _page_number(self, self._font, self._pageNumber, total)
            super().showPage()
        super().save()


def _page_number(canvas: Canvas, font: str, number: int, total: int) -> None:
    canvas.saveState()
    canvas.setFont(font, 8)
    canvas.setFillColor(colors.HexColor("#333333"))
    canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {number} / {total}")
    canvas.restoreState()


def _size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{number(round(n / 1024, 1), 'fr')} Ko"
    return f"{number(round(n / 1024 / 1024, 1), 'fr')} Mo"


def _call_text(session: Session, layout: "Layout", application: Application, kind: str, reasons: str = "") -> list:
    """The call's text of ``kind`` (edited by its admins, else the default), filled in, as paragraphs."""
    from app.letters import fill, text_for, values_for

    return _paragraphs(layout, fill(text_for(session, application.call_id, kind), values_for(application, reasons)))


def render_receipt(session: Session, application: Application) -> bytes:
    """« Accusé de réception »: reference, time of submission, organisation,
    call, a summary of the answers, and the attachments with their SHA-256."""
    layout = Layout("Accusé de réception", application.reference)
    org, call = application.organisation, application.call
    story: list = [layout.p("Accusé de réception de dossier", layout.h1)]
    story.append(layout.table([
        ["Référence du dossier", application.reference],
        ["Déposé le", local_datetime(application.submitted_at, "fr") + " (heure de Paris)"],
        ["Organisation", f"{org.name} — SIRET {org.siret}"],
        ["Appel", f"{call.title} ({call.reference})"],
        ["Projet", application.title],
        ["Montant d'aide demandé", money(application.requested_amount_cents, "fr")],
    ], [55 * mm, 119 * mm]))
    story.append(Spacer(1, 4 * mm))
    story += _call_text(session, layout, application, "receipt")
    if application.form_version is not None:
        from app.callforms import answers_summary, load_definition

        definition = load_definition(application.form_version.definition)
        for section_title, items in answers_summary(definition, application.answers or {}):
            if not items:
                continue
            story.append(layout.p(section_title, layout.h2))
            # Label and answer as paragraphs (not table rows): long answers flow across pages.
            for label, value in items:
                story.append(layout.p(label, layout.label))
                story.append(Paragraph(_text(value).replace("\n", "<br/>"), layout.answer))
    attachments = session.execute(
        select(Attachment).where(Attachment.application_id == application.id, Attachment.field_key.is_not(None))
        .order_by(Attachment.field_key, Attachment.id)
    ).scalars().all()
    story.append(layout.p("Pièces jointes", layout.h2))
    if attachments:
        rows: list[list[object]] = [["Pièce", "Fichier", "Taille", "Empreinte SHA-256"]]
        for a in attachments:
            rows.append([a.field_key, a.original_name, _size(a.size_bytes), layout.p(a.sha256, layout.small)])
        story.append(layout.table(rows, [32 * mm, 50 * mm, 18 * mm, 74 * mm], header=True))
    else:
        story.append(layout.p("Aucune pièce jointe."))
    return layout.build(story)


APPEAL_NOTICE = (
    "Voies et délais de recours : la présente décision peut faire l'objet d'un recours gracieux auprès du "
    "Président du Conseil régional ou d'un recours contentieux devant le tribunal administratif de Strasbourg "
    "(31 avenue de la Paix, 67000 Strasbourg, ou www.telerecours.fr) dans un délai de deux mois à compter de "
    "sa notification."
)


def render_ineligibility_letter(session: Session, application: Application) -> bytes:
    """Notification that the file does not meet the call's eligibility
    conditions: the reasons (failed checks and the instructor's words) and the
    means and time limit of appeal."""
    from app.models import AuditEntry, EligibilityResult

    layout = Layout("Notification d'inéligibilité", application.reference)
    org, call = application.organisation, application.call
    story: list = [layout.p("Notification d'inéligibilité", layout.h1)]
    story.append(layout.table([
        ["Référence du dossier", application.reference],
        ["Organisation", f"{org.name} — SIRET {org.siret}"],
        ["Appel", f"{call.title} ({call.reference})"],
        ["Projet", application.title],
        ["Déposé le", local_datetime(application.submitted_at, "fr")],
    ], [55 * mm, 119 * mm]))
    story.append(Spacer(1, 4 * mm))
    story += _call_text(session, layout, application, "ineligibility")
    run = session.execute(select(func.max(EligibilityResult.run)).where(
        EligibilityResult.application_id == application.id)).scalar()
    failed = session.execute(select(EligibilityResult).where(
        EligibilityResult.application_id == application.id, EligibilityResult.run == run,
        EligibilityResult.outcome == "fail").order_by(EligibilityResult.id)).scalars().all() if run else []
    reason = session.execute(select(AuditEntry.reason).where(
        AuditEntry.object_type == "application", AuditEntry.object_id == application.reference,
        AuditEntry.action == "transition:declare_ineligible").order_by(AuditEntry.id.desc()).limit(1)).scalar()
    story.append(layout.p("Motifs", layout.h2))
    if reason:
        story.append(layout.p(reason))
    for result in failed:
        story.append(layout.p(f"• {result.check_name} : {result.reason}"))
    story.append(layout.p("Recours", layout.h2))
    story.append(layout.p(APPEAL_NOTICE))
    return layout.build(story)


def _transition_reason(session: Session, application: Application, names: tuple[str, ...]) -> str:
    return session.execute(_reason_query(application, names)).scalar() or ""


def _paragraphs(layout: Layout, text: str) -> list:
    """A letter text as paragraphs (blank lines), line breaks kept."""
    return [layout.p(chunk.strip(), breaks=True) for chunk in text.split("\n\n") if chunk.strip()]


def _reason_query(application: Application, names: tuple[str, ...]):
    return _reason_of(application.reference, names)


def _reason_of(reference, names: tuple[str, ...]):
    """The reason of the latest transition among ``names`` of the file ``reference`` (a value or a
    bound parameter)."""
    from app.models import AuditEntry

    return (select(AuditEntry.reason).where(
        AuditEntry.object_type == "application", AuditEntry.object_id == reference,
        AuditEntry.action.in_([f"transition:{n}" for n in names])).order_by(AuditEntry.id.desc()).limit(1))


@functools.lru_cache(maxsize=32)
def _facts_statement(names: tuple[str, ...], letter_kind: str | None):
    """``_decision_facts``'s query, built once per transitions and kind of letter; the file's keys are
    bound when it runs (``application_id``, ``call_id``, ``organisation_id``, ``reference``)."""
    from sqlalchemy import bindparam, case

    from app.letters import text_query
    from app.models import AgendaItem, Call, Organisation

    extra = []
    if letter_kind:
        conditions = (select(case((AgendaItem.decision == "approved", AgendaItem.conditions), else_=None))
                      .where(AgendaItem.application_id == bindparam("application_id"),
                             AgendaItem.decision.is_not(None))
                      .order_by(AgendaItem.decided_at.desc(), AgendaItem.id.desc()).limit(1))
        extra = [text_query(bindparam("call_id"), letter_kind).scalar_subquery(), conditions.scalar_subquery()]
    return (select(Organisation, Call, _reason_of(bindparam("reference"), names).scalar_subquery(), *extra)
            .join(Call, Call.id == bindparam("call_id")).where(Organisation.id == bindparam("organisation_id")))


def _decision_facts(session: Session, application: Application, names: tuple[str, ...],
                    letter_kind: str | None = None) -> tuple[str, str | None, str | None]:
    """What a decision letter reads besides the file — the reason of its latest transition among
    ``names``, the call's text of ``letter_kind`` (None: the default text) and the conditions of the
    committee's approval — with the file's organisation and call when they are not loaded yet: one
    query instead of five."""
    from sqlalchemy import inspect
    from sqlalchemy.orm.attributes import set_committed_value

    from app.letters import text_query
    from app.operations.committee import approval_conditions

    if not {"organisation", "call"} <= inspect(application).unloaded:
        text = session.execute(text_query(application.call_id, letter_kind)).scalar() if letter_kind else None
        return (_transition_reason(session, application, names), text,
                approval_conditions(session, application) if letter_kind else None)
    row = session.execute(_facts_statement(names, letter_kind), {  # by the file's own keys, as lazy loads would
        "application_id": application.id, "call_id": application.call_id,
        "organisation_id": application.organisation_id, "reference": application.reference}).one()
    set_committed_value(application, "organisation", row[0])
    set_committed_value(application, "call", row[1])
    return (row[2] or "", row[3] if letter_kind else None, row[4] if letter_kind else None)


def _letter_head(layout: Layout, application: Application, title: str) -> list:
    org, call = application.organisation, application.call
    story: list = [layout.p(title, layout.h1)]
    story.append(layout.rows([
        ["Référence du dossier", application.reference],
        ["Délibération", application.deliberation_number or "—"],
        ["Date de la décision", local_date(application.decided_on, "fr") if application.decided_on else "—"],
        ["Bénéficiaire", f"{org.name} — SIRET {org.siret}"],
        ["Appel", f"{call.title} ({call.reference})"],
        ["Projet", application.title],
    ], [55 * mm, 119 * mm]))
    story.append(Spacer(1, 4 * mm))
    return story


def _schedule_table(layout: Layout, amount: int) -> Flowable:
    from app.letters import payment_schedule

    rows: list[list[object]] = [["Échéance", "Montant maximal"]]
    for step in payment_schedule(amount):
        rows.append([step.label, layout.p(money(step.amount_cents, "fr"), layout.right)])
    rows.append([layout.p("Total", layout.label), layout.p(money(amount, "fr"), layout.right)])
    return layout.rows(rows, [119 * mm, 55 * mm], header=True)


def is_refusal(application: Application) -> bool:
    return application.state == "rejected"


REFUSAL_SEE_OPINION = "voir l'avis de la commission joint à votre dossier."


def render_decision_letter(session: Session, application: Application) -> bytes:
    """Notification of the committee's decision: approval (amount in figures and
    in words, conditions, payment terms) or refusal (reasons); the deliberation
    number and the means and time limit of appeal in both cases."""
    from app.letters import DEFAULT_TEXTS, decision_amount, fill, needs_agreement, values_for

    refused = is_refusal(application)
    kind = "decision_refusal" if refused else "decision_approval"
    reasons, body, conditions = _decision_facts(session, application, ("reject",) if refused else ("approve",), kind)
    text = body or DEFAULT_TEXTS[kind]
    # a refusal without a recorded reason points to the committee's opinion, in the text's {motifs} when it has one
    see_opinion = refused and not reasons
    values = values_for(application, REFUSAL_SEE_OPINION if see_opinion and "{motifs}" in text else reasons)
    layout = Layout("Notification de décision", application.reference)
    story = _letter_head(layout, application, "Notification de décision")
    story += _paragraphs(layout, fill(text, values))
    amount = decision_amount(application)
    if not refused and amount:
        story.append(layout.p("Montant de l'aide", layout.h2))
        story.append(layout.rows([  # the same amount as the text's, formatted once (values_for)
            ["En chiffres", values["montant"]],
            ["En lettres", values["montant_lettres"]],
        ], [55 * mm, 119 * mm]))
        if conditions:
            story.append(layout.p("Conditions particulières", layout.h2))
            story.append(layout.p("La commission a assorti sa décision des conditions suivantes :"))
            story += _paragraphs(layout, conditions)
        story.append(layout.p("Modalités de versement", layout.h2))
        threshold = money_short(current_app.config["AGREEMENT_THRESHOLD_CENTS"], "fr")
        if needs_agreement(amount):
            story.append(layout.p(
                f"L'aide excédant {threshold}, une convention vous sera adressée ; elle fixe l'échéancier suivant :"))
            story.append(_schedule_table(layout, amount))
        else:
            story.append(layout.p(
                f"L'aide n'excédant pas {threshold}, aucune convention n'est établie : la présente notification en "
                "tient lieu. L'aide est versée en une fois, sur présentation des justificatifs de dépenses."))
    elif see_opinion and "{motifs}" not in text:
        story.append(layout.p("Motifs : " + REFUSAL_SEE_OPINION))
    story.append(layout.p("Voies et délais de recours", layout.h2))
    story.append(layout.p(APPEAL_NOTICE))
    return layout.build(story)


def render_agreement(session: Session, application: Application) -> bytes:
    """« Convention » between the Region and the beneficiary: its articles (the
    call's text), the amount in figures and in words, and the payment schedule
    (advance, interim payments, balance)."""
    from app.letters import amount_in_words, decision_amount, fill, text_for, values_for

    values = values_for(application)
    layout = Layout("Convention d'aide", application.reference)
    story = _letter_head(layout, application, "Convention d'attribution d'une aide régionale")
    story += _paragraphs(layout, fill(text_for(session, application.call_id, "agreement"), values))
    amount = decision_amount(application)
    if amount:
        story.append(layout.p("Montant et échéancier", layout.h2))
        story.append(layout.p(f"Montant de l'aide : {money(amount, 'fr')} ({amount_in_words(amount)})."))
        story.append(_schedule_table(layout, amount))
    story.append(layout.p("Voies et délais de recours", layout.h2))
    story.append(layout.p(APPEAL_NOTICE))
    story.append(Spacer(1, 10 * mm))
    story.append(layout.table([["Pour la Région Grand Est", f"Pour {application.organisation.name}"],
                               ["Le Président du Conseil régional", "Le représentant légal"]], [87 * mm, 87 * mm]))
    return layout.build(story)


RENDERERS: dict[str, tuple[str, Callable[[Session, Application], bytes]]] = {
    # workflow pdf template → (document kind, renderer)
    "accuse_reception": ("receipt", render_receipt),
    "lettre_ineligibilite": ("ineligibility_letter", render_ineligibility_letter),
    "lettre_decision": ("decision_letter", render_decision_letter),
    "convention": ("agreement", render_agreement),
}


def generate_document(application_id: int, template: str, actor_id: int | None = None) -> int | None:
    """Job: render ``template`` for the file and store it; returns the document id.
    No convention is made for an aid at or below the agreement threshold (the
    decision letter serves as agreement): None then."""
    from app.letters import decision_amount, needs_agreement

    if template not in RENDERERS:
        raise KeyError(f"no PDF renderer for the template {template!r}")
    kind, renderer = RENDERERS[template]
    application = db.session.get(Application, application_id)
    if application is None:
        raise LookupError(f"no file with id {application_id}")
    if template == "convention" and not needs_agreement(decision_amount(application)):
        current_app.logger.info("no convention for %s: the aid does not exceed the agreement threshold",
                                application.reference)
        return None
    content = renderer(db.session, application)
    document = store_document(db.session, application, kind, content, actor_id)
    db.session.commit()
    return document.id
