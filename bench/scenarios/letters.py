"""letters: 1,000 decision letters rendered by Guichet's ReportLab renderer
(``app.documents.RENDERERS["lettre_decision"]``, the letter the workflow's
``approve`` and ``reject`` transitions queue), at least half as many per
second as a bare ReportLab canvas carrying the same text line by line in the
same embedded font (the ceiling: a standard Helvetica page cannot show the
narrow no-break spaces of French amounts, so the letters embed DejaVu Sans).

A decision letter needs a decided file: a deliberation number, a decision
date, and for an approval the awarded (or proposed) amount. Letters are
rendered as the ``pdf`` job renders them (the file loaded afresh by the
session, its organisation, call, the call's letter text, the reason of the
transition from the audit log), cycling over up to ``FILES`` decided files,
approvals first: those decided by the committee in ``ledger_contention`` when
it ran, then the demo's. When fewer than ``FILES`` are decided, synthetic
files in ``approved`` are given a deliberation number, a decision date and an
awarded amount beforehand (not timed; the bench database only). Bounded:
``LETTERS`` letters or ``SECONDS`` seconds.
"""

from __future__ import annotations

import io
import time

from bench.harness import Context, Result, at_least

TEMPLATE = "lettre_decision"
FILES = 50
LETTERS = 1000
SECONDS = 240.0
RATIO_TARGET = 0.5


def bare_page(lines: list[str], font: str = "Helvetica") -> bytes:
    """The same text drawn line by line on plain ReportLab pages, in ``font``."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    y = A4[1] - 60
    pdf.setFont(font, 10)
    for line in lines:
        if y < 60:
            pdf.showPage()
            pdf.setFont(font, 10)
            y = A4[1] - 60
        pdf.drawString(50, y, line)
        y -= 13
    pdf.save()
    return out.getvalue()


def bare_font(name: str) -> str:
    """The letters' regular font file loaded afresh as a plain ReportLab ``TTFont``, for the ceiling:
    Guichet's font keeps the latest embedded subsets for the next documents (app/documents.py), and
    ReportLab would register a second font of the same face as an alias of the first, so the fresh one
    gets a face name of its own."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    bare = "BenchBareSans"
    if bare not in pdfmetrics.getRegisteredFontNames():
        font = TTFont(bare, pdfmetrics.getFont(name).face.filename)
        font.face.name = bare.encode()
        pdfmetrics.registerFont(font)
    return bare


def decided_files(ctx: Context, wanted: int) -> list[int]:
    """Up to ``wanted`` decided files (approvals first, latest first); synthetic approved ones
    are given a decision when too few are decided."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.extensions import db
    from app.models import Application, utcnow

    def decided() -> list[int]:
        return list(db.session.execute(
            select(Application.id).where(Application.deliberation_number.is_not(None),
                                         Application.decided_on.is_not(None),
                                         Application.state.in_(("approved", "rejected")))
            .order_by((Application.state == "approved").desc(), Application.id.desc()).limit(wanted)).scalars())

    with ctx.app.app_context():
        session = db.session
        ids = decided()
        if len(ids) < wanted:
            decided_on = utcnow().date() - timedelta(days=3)
            for n, application in enumerate(session.execute(
                    select(Application).where(Application.state == "approved", Application.deliberation_number.is_(None))
                    .order_by(Application.id).limit(wanted - len(ids))).scalars(), start=1):
                application.deliberation_number = f"BENCH-{decided_on:%Y-%m}-{n:04d}"
                application.decided_on = decided_on
                application.proposed_amount_cents = application.proposed_amount_cents or application.requested_amount_cents
                application.awarded_amount_cents = application.awarded_amount_cents or application.proposed_amount_cents
            session.commit()
            ids = decided()
    return ids


def run(ctx: Context) -> list[Result]:
    from pypdf import PdfReader
    from sqlalchemy import func, select

    from app.documents import RENDERERS, fonts
    from app.extensions import db
    from app.models import Application

    total = 50 if ctx.small else LETTERS
    _kind, renderer = RENDERERS[TEMPLATE]
    ids = decided_files(ctx, FILES)
    if not ids:
        raise RuntimeError("no decided file to write decision letters for")
    with ctx.app.app_context():
        session = db.session
        approvals = session.execute(select(func.count()).where(Application.id.in_(ids),
                                                                Application.state == "approved")).scalar_one()
        texts = {}
        for application_id in ids:
            content = renderer(session, session.get(Application, application_id))
            texts[application_id] = [line for page in PdfReader(io.BytesIO(content)).pages
                                     for line in (page.extract_text() or "").splitlines()]
        session.rollback()
        pages = sum(len(PdfReader(io.BytesIO(renderer(session, session.get(Application, i)))).pages) for i in ids[:5])
        session.rollback()

        deadline = time.monotonic() + SECONDS
        started = time.perf_counter()
        done = 0
        while done < total and time.monotonic() < deadline:
            session.expunge_all()  # each letter loads its file afresh, as a job does
            renderer(session, session.get(Application, ids[done % len(ids)]))
            done += 1
        letters_rate = done / (time.perf_counter() - started)
        session.rollback()
        font = bare_font(fonts()[0])

    deadline = time.monotonic() + SECONDS
    started = time.perf_counter()
    bare = 0
    while bare < total and time.monotonic() < deadline:
        bare_page(texts[ids[bare % len(ids)]], font)
        bare += 1
    bare_rate = bare / (time.perf_counter() - started)
    ratio = letters_rate / bare_rate
    lines = sum(len(t) for t in texts.values()) / len(texts)
    return [at_least("letters", round(letters_rate, 1), "letters/s", round(RATIO_TARGET * bare_rate, 1),
                     ceiling=round(bare_rate, 1), ratio=round(ratio, 3),
                     note=f"{done} decision letters ({TEMPLATE}) over {len(ids)} decided files ({approvals} approvals, "
                          f"{len(ids) - approvals} refusals; about {pages / min(5, len(ids)):.1f} pages and {lines:.0f} "
                          f"lines each); target = half the ceiling; ceiling = {bare} bare ReportLab canvases of the "
                          "same text, line by line, in the letters' embedded font (DejaVu Sans: French typography "
                          "needs it)")]
