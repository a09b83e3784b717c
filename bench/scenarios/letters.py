"""letters: 1,000 letters rendered by Guichet's ReportLab renderers
(app/documents.py ``RENDERERS``), at least half as many per second as a bare
ReportLab canvas carrying the same text line by line in the same embedded
font (the ceiling: a standard Helvetica page cannot show the narrow no-break
spaces of French amounts, so the letters embed DejaVu Sans).

The decision letter is being written in another branch; until it is merged
the receipt (``accuse_reception``) stands in for it: ``TEMPLATE`` names the
renderer, so the decision letter is measured by setting it to its template
name once it is in ``RENDERERS``. Letters are rendered as the ``pdf`` job
renders them (the file loaded by the session, its organisation, call, answers
and attachments read), cycling over up to 50 submitted files (those of
the deadline rush, with answers and documents, when it ran). Bounded: ``LETTERS`` letters or ``SECONDS`` seconds.
"""

from __future__ import annotations

import io
import time

from bench.harness import Context, Result, at_least

TEMPLATE = "accuse_reception"
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


def run(ctx: Context) -> list[Result]:
    from pypdf import PdfReader
    from sqlalchemy import select

    from app.documents import RENDERERS, fonts
    from app.extensions import db
    from app.models import Application, Attachment

    total = 50 if ctx.small else LETTERS
    _kind, renderer = RENDERERS[TEMPLATE]
    with ctx.app.app_context():
        session = db.session
        submitted = select(Application.id).where(Application.submitted_at.is_not(None))
        # The files of the deadline rush (answers and four documents) when it ran; else the demo's, oldest first.
        ids = session.execute(submitted.where(Application.id.in_(select(Attachment.application_id)))
                              .order_by(Application.id.desc()).limit(50)).scalars().all()
        if len(ids) < 10:
            ids += session.execute(submitted.order_by(Application.id).limit(50 - len(ids))).scalars().all()
        if not ids:
            raise RuntimeError("no submitted file to write letters for")
        texts = {}
        for application_id in ids:
            content = renderer(session, session.get(Application, application_id))
            texts[application_id] = [line for page in PdfReader(io.BytesIO(content)).pages
                                     for line in (page.extract_text() or "").splitlines()]
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
        font = fonts()[0]

    deadline = time.monotonic() + SECONDS
    started = time.perf_counter()
    bare = 0
    while bare < total and time.monotonic() < deadline:
        bare_page(texts[ids[bare % len(ids)]], font)
        bare += 1
    bare_rate = bare / (time.perf_counter() - started)
    ratio = letters_rate / bare_rate
    return [at_least("letters", round(letters_rate, 1), "letters/s", round(RATIO_TARGET * bare_rate, 1),
                     ceiling=round(bare_rate, 1), ratio=round(ratio, 3),
                     note=f"{done} letters ({TEMPLATE}; the decision letter is not in this branch); target = half "
                          f"the ceiling; ceiling = {bare} bare ReportLab canvases of the same text, line by line, in the "
                          "letters' embedded font (DejaVu Sans: French typography needs it)")]
