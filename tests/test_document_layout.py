"""The plain-text flowable of the Region's documents (``app.documents.TextBlock``)
breaks lines exactly as ReportLab's ``Paragraph`` does, splits across pages the
same way, and keeps line breaks only when asked; letters built with it keep
their page count."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from app.documents import Layout, TextBlock, _text
from tests.journey import pdf_text

TEXTS = [
    "Par délibération n° CP-2026-11-0042 du 20 novembre 2026, la Commission permanente du Conseil régional "
    "a décidé d'attribuer à Alsace Robotique une aide de 45\u202f678,90\u00a0€ (quarante-cinq mille six cent "
    "soixante-dix-huit euros et quatre-vingt-dix centimes) pour le projet « Vision industrielle ».",
    "Œuvre Ça Été Îlot Ûber Ÿvette « Ærø » — l'été, à l'œil nu ; 1\u00a0234\u00a0567,00\u00a0€",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a SHA-256: one word longer than a cell
    "Court  texte,   espaces\tmultiples\net saut de ligne",
    "<b>pas de balise</b> & « guillemets » > fin",
    "",
]


def paragraph_lines(text: str, style, width: float) -> list[str]:
    paragraph = Paragraph(_text(text), style)
    paragraph.wrap(width, 10_000)
    lines = paragraph.blPara.lines
    if paragraph.blPara.kind == 0:
        return [" ".join(words) for _spare, words in lines]
    # several fragments (an escaped character makes them): the words carry their spaces
    return [re.sub(" +", " ", "".join(getattr(w, "text", "") for w in line.words)).strip() for line in lines]


@pytest.mark.parametrize("width_mm", [30, 55, 74, 119, 174])
@pytest.mark.parametrize("text", TEXTS)
def test_lines_are_broken_as_a_paragraph_breaks_them(app, text, width_mm):
    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        for style in (layout.body, layout.small, layout.h1, layout.right, layout.label, layout.answer):
            block = TextBlock(text, style)
            _w, height = block.wrap(width_mm * mm, 10_000)
            expected = paragraph_lines(text, style, width_mm * mm)
            got = [line for _spare, line in block._lines]
            assert [line.replace("\u202f", "\u00a0") for line in expected] == got, (style.name, width_mm)
            assert height == len(expected) * style.leading


def test_long_text_splits_across_pages_as_a_paragraph_does(app):
    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        text = " ".join([TEXTS[0]] * 12)
        block, paragraph = TextBlock(text, layout.body), Paragraph(_text(text), layout.body)
        width = 174 * mm
        block.wrap(width, 80)
        paragraph.wrap(width, 80)
        parts, expected = block.split(width, 80), paragraph.split(width, 80)
        assert len(parts) == len(expected) == 2
        for part, reference in zip(parts, expected):
            assert part.wrap(width, 10_000)[1] == reference.wrap(width, 10_000)[1]
        # one line of room: no orphan line, the whole block goes to the next page
        assert block.split(width, layout.body.leading * 1.5) == []
        assert paragraph.split(width, layout.body.leading * 1.5) == []


def test_line_breaks_are_kept_only_when_asked(app):
    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        kept = layout.p("Madame, Monsieur,\nPar délibération", breaks=True)
        joined = layout.p("Madame, Monsieur,\nPar délibération")
        assert kept.wrap(174 * mm, 1000)[1] == 2 * layout.body.leading
        assert joined.wrap(174 * mm, 1000)[1] == layout.body.leading


def test_drawn_text_reads_back_with_no_break_spaces_and_right_alignment(app):
    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A4)
        amount = TextBlock("45\u202f678,90\u00a0€", layout.right)
        _w, h = amount.wrap(55 * mm, 100)
        amount.drawOn(canvas, 100, 500)
        words = TextBlock(TEXTS[1], layout.body)
        words.wrap(174 * mm, 100)
        words.drawOn(canvas, 50, 400)
        canvas.save()
        text = pdf_text(out.getvalue())
        assert "45 678,90 €" in text  # pdf_text reads no-break spaces as spaces
        assert "Œuvre Ça Été Îlot Ûber Ÿvette « Ærø »" in text
        assert h == layout.right.leading

        # where the text lands, read back: the same place as Paragraph's, right-aligned
        def origins(flowable) -> list:
            out = io.BytesIO()
            canvas = Canvas(out, pagesize=A4)
            flowable.wrap(55 * mm, 100)
            flowable.drawOn(canvas, 0, 0)
            canvas.save()
            drawn: list = []
            PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text(
                visitor_text=lambda t, cm, tm, _font, _size: drawn.append((round(cm[4] + tm[4], 3), round(tm[5], 3), t))
                if t.strip() else None)
            return drawn

        amount_text = "45\u202f678,90\u00a0€"
        assert origins(TextBlock(amount_text, layout.right)) == origins(Paragraph(_text(amount_text), layout.right))
        assert origins(TextBlock(amount_text, layout.right))[0][0] > origins(TextBlock(amount_text, layout.body))[0][0] + 50
        long_text = " ".join([TEXTS[0]] * 2)
        assert origins(TextBlock(long_text, layout.right)) == origins(Paragraph(_text(long_text), layout.right))
        assert origins(TextBlock(long_text, layout.answer)) == origins(Paragraph(_text(long_text), layout.answer))


def test_font_subsets_are_kept_for_the_next_letter_and_the_pdf_is_the_same(app, session, monkeypatch):
    from collections import OrderedDict

    import reportlab.rl_config
    from reportlab.pdfbase import pdfmetrics

    from app.documents import fonts, render_decision_letter
    from tests.test_letters import decided

    monkeypatch.setattr(reportlab.rl_config, "invariant", 1)  # no date nor random id: the same bytes twice
    first, second = decided(session), decided(session, number="CP-2026-11-0043")
    regular, bold = (pdfmetrics.getFont(name).face for name in fonts())
    built: list[bytes] = []
    for face in (regular, bold):
        cache = face.makeSubset.__self__
        monkeypatch.setattr(cache, "_entries", OrderedDict())  # what earlier tests left
        monkeypatch.setattr(cache, "_make", lambda subset, make=cache._make, name=face.name: (
            built.append(name), make(subset))[1])
    cached = [render_decision_letter(session, first), render_decision_letter(session, second)]
    # the second letter (same kind, another file) reuses the bold subset: the same fixed words
    assert built.count(bold.name) == 1 and built.count(regular.name) >= 1, built
    # and without the cache, the very same bytes
    for face in (regular, bold):
        cache = face.makeSubset.__self__
        monkeypatch.setattr(face, "makeSubset", cache._make)
        monkeypatch.setattr(face, "addSubsetObjects", cache._add)
        monkeypatch.setattr(cache.font, "addObjects", cache._add_font)
    plain = [render_decision_letter(session, first), render_decision_letter(session, second)]
    assert cached == plain


def test_a_decision_letter_for_a_file_loaded_alone_reads_it_in_one_query(app, session):
    """As the letters job does: the file alone in the session; its organisation, call, the reason of
    the decision, the call's letter text and the approval's conditions come in one query."""
    from app import audit
    from app.documents import render_decision_letter
    from app.extensions import db
    from app.models import Application
    from tests.factories import recorded_statements
    from tests.test_letters import decided, flat

    application = decided(session, state="rejected", number="CP-2026-11-0044")
    audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                 action="transition:reject", reason="Le projet ne relève pas de l'intelligence artificielle.")
    session.commit()
    application_id, organisation = application.id, application.organisation.name
    session.expunge_all()
    application = session.get(Application, application_id)
    with recorded_statements(db.engine) as statements:
        text = flat(render_decision_letter(session, application))
    assert len(statements) == 1, statements
    assert "Le projet ne relève pas de l'intelligence artificielle." in text
    assert organisation in text and "CP-2026-11-0044" in text and "n'a pas retenu" in text


def test_a_table_row_longer_than_a_page_continues_on_the_next_pages(app):
    """A cell's text split inside its row (the table's splitInRow), and a long paragraph, across pages."""
    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        long_text = " ".join([TEXTS[0]] * 40)
        pdf = layout.build([layout.p("Titre", layout.h1), layout.table([["Réponse", long_text], ["Suite", "fin"]],
                                                                       [55 * mm, 119 * mm]),
                            layout.p(long_text, layout.answer)])
        pages = PdfReader(io.BytesIO(pdf)).pages
        text = " ".join(" ".join((page.extract_text() or "").split()) for page in pages)
        assert len(pages) >= 3
        assert text.count("Vision industrielle") == 80  # every line of both, none lost at the page breaks
        assert "Page 1 / " in text and "fin" in text


# --- the letters' own layout (Layout._compose) against Platypus ------------------------------------

def _origins(pdf: bytes) -> list[tuple[int, float, float, str]]:
    """Every piece of text drawn, with its page and where it starts."""
    drawn: list = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        page.extract_text(visitor_text=lambda t, cm, tm, _font, _size, n=number: drawn.append(
            (n, round(cm[4] + tm[4], 2), round(cm[5] + tm[5], 2), t)) if t.strip() else None)
    return drawn


def _letter_story(layout: Layout, gap: float, tables: bool) -> list:
    """A letter's kinds of flowables, the payment schedule pushed down by ``gap`` points; with
    ``tables`` its rows are ReportLab ``Table``s (what ``Rows`` draws like)."""
    from reportlab.platypus import Spacer

    rows = layout.table if tables else layout.rows
    story = [layout.p("Notification de décision", layout.h1),
             rows([["Référence du dossier", "PIA-2026-0001"], ["Projet", "Vision industrielle"]], [55 * mm, 119 * mm]),
             Spacer(1, 4 * mm)]
    story += [layout.p(" ".join([TEXTS[0]] * 4), breaks=True) for _ in range(3)] + [Spacer(1, gap)]
    story.append(layout.p("Modalités de versement", layout.h2))
    story.append(rows([["Échéance", "Montant maximal"]]
                      + [[f"Acompte n° {n}", layout.p("1\u202f000,00\u00a0€", layout.right)] for n in range(1, 7)]
                      + [[layout.p("Total", layout.label), layout.p("6\u202f000,00\u00a0€", layout.right)]],
                      [119 * mm, 55 * mm], header=True))
    story += [layout.p("Voies et délais de recours", layout.h2), layout.p(TEXTS[1] * 3)]
    return story


def test_a_letter_is_laid_out_as_platypus_lays_it_out_with_tables_wherever_its_pages_break(app):
    """The letters' layout (``Rows`` drawn by ``Layout._compose``) puts every piece of text where
    Platypus puts it with ``Table``s, on the same page: the payment schedule moved down point by point
    until it breaks across pages, its header row repeated on the next page as a table's is."""
    with app.app_context():
        layout = Layout("Notification de décision", "PIA-2026-0001")
        split_schedules = 0
        for gap in range(0, 330, 4):
            expected = _origins(layout.build(_letter_story(layout, gap, tables=True), platypus=True))
            got = _origins(layout.build(_letter_story(layout, gap, tables=False)))
            assert got == expected, gap
            headers = [page for page, _x, _y, text in got if text.startswith("Échéance")]
            split_schedules += len(headers) == 2 and headers[0] != headers[1]
            assert got[-1][3].startswith("Page ") and got[-1][3].strip().endswith(f"/ {got[-1][0] + 1}")
        assert split_schedules >= 5  # some gaps did break the schedule across two pages


def test_decision_letters_are_drawn_without_platypus_and_read_as_before(app, session, monkeypatch):
    """An approval (with its payment schedule), a small approval and a refusal: drawn by
    ``Layout._compose`` (Platypus's document builder is not called), their text where Platypus with
    tables puts it."""
    from reportlab.platypus import SimpleDocTemplate

    from app.documents import render_decision_letter
    from tests.test_letters import decided

    letters = [decided(session), decided(session, amount=1_500_000, number="CP-2026-11-0045"),
               decided(session, state="rejected", number="CP-2026-11-0046")]
    saved_rows, saved_build = Layout.rows, Layout.build
    with monkeypatch.context() as patched:  # the reference: tables and Platypus
        patched.setattr(Layout, "rows", lambda self, rows, widths, header=False: self.table(rows, widths, header))
        patched.setattr(Layout, "build", lambda self, story, platypus=False: saved_build(self, story, platypus=True))
        expected = [_origins(render_decision_letter(session, letter)) for letter in letters]
    assert Layout.rows is saved_rows

    def no_platypus(*_args, **_kwargs):
        raise AssertionError("a decision letter went through Platypus")

    monkeypatch.setattr(SimpleDocTemplate, "build", no_platypus)
    got = [_origins(render_decision_letter(session, letter)) for letter in letters]
    assert got == expected
    texts = [" ".join(t for _p, _x, _y, t in drawn) for drawn in got]
    assert "Échéance" in texts[0] and "Échéance" not in texts[1] and "n'a pas retenu" in texts[2]


def test_other_documents_still_go_through_platypus_and_a_flowable_too_tall_is_refused_in_both(app, monkeypatch):
    from reportlab.platypus import Spacer
    from reportlab.platypus.doctemplate import LayoutError

    with app.app_context():
        layout = Layout("Essai", "PIA-2026-0001")
        with monkeypatch.context() as patched:
            patched.setattr(Layout, "_compose", lambda self, story: pytest.fail("a table was composed"))
            pdf = layout.build([layout.p("Titre", layout.h1), layout.table([["Réponse", "Oui"]], [55 * mm, 119 * mm])])
        assert "Réponse Oui" in " ".join(pdf_text(pdf).split())
        for platypus in (False, True):
            with pytest.raises(LayoutError):
                layout.build([layout.p("Titre", layout.h1), Spacer(1, 2000)], platypus=platypus)
