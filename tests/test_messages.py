"""The message thread of a file, with attachments, between the applicant and the instructors."""

from __future__ import annotations

import html
import io
from pathlib import Path

from sqlalchemy import select

from app.models import Attachment, Message
from tests.factories import declare_no_conflict, login, make_application, make_call, make_organisation, make_user
from tests.journey import make_pdf, make_png


def setup_file(session):
    call = make_call(session)
    applicant = make_user(session, "applicant", email="porteur@entreprise.fr")
    other = make_user(session, "applicant", email="autre@entreprise.fr")
    make_organisation(session, other)
    org = make_organisation(session, applicant)
    application = make_application(session, call, org, state="submitted")
    instructor = make_user(session, "instructor", email="instructeur@region-grandest.fr")
    session.commit()
    return application


def test_messages_with_attachments_both_ways(app, session, client, outbox):
    application = setup_file(session)
    reference = application.reference
    pdf = make_pdf("Devis corrigé")
    login(client, "porteur@entreprise.fr")
    response = client.post(f"/espace/dossiers/{reference}/messages",
                           data={"body": "Voici le devis corrigé.", "file": (io.BytesIO(pdf), "devis.pdf")},
                           content_type="multipart/form-data", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Voici le devis corrigé." in html and "devis.pdf" in html
    message = session.execute(select(Message)).scalar_one()
    attachment = session.execute(select(Attachment).where(Attachment.message_id == message.id)).scalar_one()
    assert attachment.field_key is None and attachment.content_type == "application/pdf"
    assert not Path(app.static_folder, attachment.stored_name).exists()
    download = client.get(f"/espace/dossiers/{reference}/messages/pieces/{attachment.id}")
    assert download.status_code == 200 and download.data == pdf
    assert any("Nouveau message" in m["Subject"] and m["To"] == "instructeur@region-grandest.fr" for m in outbox)

    client.post("/deconnexion")
    login(client, "instructeur@region-grandest.fr")
    declare_no_conflict(client, reference)
    page = client.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    assert "Voici le devis corrigé." in page and "devis.pdf" in page
    assert client.get(f"/instruction/dossiers/{reference}/pieces/{attachment.id}").data == pdf
    client.post(f"/instruction/dossiers/{reference}/messages",
                data={"body": "Merci, c'est complet.", "file": (io.BytesIO(make_png()), "capture.png")},
                content_type="multipart/form-data")
    assert session.execute(select(Attachment).where(Attachment.content_type == "image/png")).scalar_one()

    client.post("/deconnexion")
    login(client, "autre@entreprise.fr")  # another organisation
    assert client.get(f"/espace/dossiers/{reference}/messages/pieces/{attachment.id}").status_code == 404


def test_a_refused_attachment_stores_no_message(app, session, client):
    application = setup_file(session)
    login(client, "porteur@entreprise.fr")
    response = client.post(f"/espace/dossiers/{application.reference}/messages",
                           data={"body": "Voir pièce", "file": (io.BytesIO(b"MZ\x90\x00 not a document"), "outil.pdf")},
                           content_type="multipart/form-data", follow_redirects=True)
    text = html.unescape(response.get_data(as_text=True))
    assert "n'est pas accepté" in text  # the content is an executable, whatever its name says
    assert session.execute(select(Message)).first() is None
    assert session.execute(select(Attachment)).first() is None
