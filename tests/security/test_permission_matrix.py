"""The permission matrix, generated from the URL map: every route × every
role × (for the applicant) their own or another organisation's object.

``ACCESS`` is the explicit table of who may reach each endpoint. A role in
the set must not be refused (no 401/403, no 404 on an object it may see, no
redirect to the login page); a role outside it must be refused: 403 or 404
for a signed-in person, the login page for an anonymous visitor, 401 on the
API. A new route missing from the table fails ``test_every_route_is_in_the_table``:
whoever adds a route decides here who may reach it.

Roles: ``anonymous``; ``applicant`` (member of the organisation owning the
objects); ``other_applicant`` (member of another organisation: the same
objects are another's to them); ``instructor``, ``expert``, ``committee``,
``finance``, ``admin`` (the demo staff accounts, global roles).

Objects (from the demo data): a submitted Pack IA file of the applicant's
organisation (drafts are private to the organisation, so the draft-editing
endpoints use one of its drafts), its first attachment, the organisation's
SIRET, its first membership and a pending invitation.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Application, Attachment, Membership, User
from werkzeug.datastructures import FileStorage

from app.documents import store_document
from app.operations.attachments import file_fields, store_attachment
from app.operations.demo import seed_demo
from app.operations.submission import post_message, request_corrections
from app.operations.organisations import invite_member
from tests.factories import login
from tests.journey import document_for, make_pdf

ROLES = ("anonymous", "applicant", "other_applicant", "instructor", "expert", "committee", "finance", "admin")
EMAILS = {
    "applicant": "demo-applicant@guichet.test",          # Atelier Numérique de Champagne: owns the objects
    "other_applicant": "demo-applicant2@guichet.test",   # BioVosges: another organisation
    **{r: f"demo-{r}@guichet.test" for r in ("instructor", "expert", "committee", "finance", "admin")},
}
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
APPLICANTS = frozenset({"applicant", "other_applicant"})  # no object, or the person's own
OWNER = frozenset({"applicant"})                           # the object's organisation only
INSTRUCTORS = frozenset({"instructor"})                    # the instruction space (the admin is not an instructor)
NOBODY_BY_COOKIE = frozenset()                             # the API: bearer tokens only (tested below)

# endpoint → the roles that may reach it (with the objects above).
ACCESS: dict[str, frozenset[str]] = {
    # public pages and authentication (a signed-in person is sent on, never refused)
    "public.home": EVERYONE,
    "public.call_detail": EVERYONE,
    "public.set_language": EVERYONE,
    "public.dashboard": SIGNED_IN,
    "static": EVERYONE,
    "auth.login": EVERYONE,
    "auth.logout": SIGNED_IN,
    "auth.signup": EVERYONE,
    "auth.confirm_email": EVERYONE,        # the token is the credential
    "auth.forgot_password": EVERYONE,
    "auth.resend_confirmation": EVERYONE,
    "auth.reset_password": EVERYONE,       # the token is the credential
    # applicant space: their own organisation's files and organisations only
    "applicant.index": APPLICANTS,
    "applicant.new_draft": APPLICANTS,
    "applicant.organisations": APPLICANTS,
    "applicant.organisation_new": APPLICANTS,
    "applicant.invitation": frozenset(),   # only the invited address (none of these accounts): 403
    "applicant.application_detail": OWNER,
    "applicant.corrections": OWNER,
    "applicant.delete_attachment": OWNER,
    "applicant.download_attachment": OWNER,
    "applicant.draft": OWNER,
    "applicant.draft_autosave": OWNER,
    "applicant.draft_section": OWNER,
    "applicant.save_section": OWNER,
    "applicant.upload_attachment": OWNER,
    "applicant.message_attachment": OWNER,
    "applicant.post_message": OWNER,
    "applicant.receipt": OWNER,
    "applicant.resubmit": OWNER,
    "applicant.save_corrections": OWNER,
    "applicant.submit": OWNER,
    "applicant.withdraw": OWNER,
    "applicant.organisation_detail": OWNER,
    "applicant.organisation_edit": OWNER,
    "applicant.organisation_invite": OWNER,
    "applicant.organisation_members": OWNER,
    "applicant.invitation_revoke": OWNER,
    "applicant.member_make_owner": OWNER,
    "applicant.member_remove": OWNER,
    # instruction: staff who read files (globally or on the file's call)
    "instruction.index": INSTRUCTORS,
    "instruction.expert_home": frozenset({"expert"}),
    "instruction.application_detail": INSTRUCTORS,
    "instruction.download_attachment": INSTRUCTORS,
    "instruction.receipt": INSTRUCTORS,
    "instruction.decide_eligibility": INSTRUCTORS,
    "instruction.fire_transition": INSTRUCTORS,
    "instruction.post_message": INSTRUCTORS,
    "instruction.request_corrections": INSTRUCTORS,
    "instruction.rerun_eligibility": INSTRUCTORS,
    # committee, finance, administration
    "committee.index": frozenset({"committee"}),
    "finance.index": frozenset({"finance"}),
    "admin.index": frozenset({"admin"}),
    "admin.call_form": frozenset({"admin"}),
    "admin.call_form_version": frozenset({"admin"}),
    "admin.call_workflow": frozenset({"admin"}),
    "admin.create_user": frozenset({"admin"}),
    "admin.migrate_workflow": frozenset({"admin"}),
    "admin.publish_call_form": frozenset({"admin"}),
    # API: cookies give nothing; tokens are checked in test_api_* below
    "api.openapi": EVERYONE,
    "api.create_token": EVERYONE,          # the e-mail and password are the credential
    **{f"api.{name}": NOBODY_BY_COOKIE for name in (
        "application_answers", "application_receipt", "call_form", "correct_application", "create_application",
        "create_organisation", "get_application", "get_organisation", "list_applications", "list_calls",
        "list_organisations", "patch_application", "resubmit_application", "revoke_current_token",
        "submit_application", "upload_attachment", "withdraw_application")},
}

# Endpoints editing a draft: the applicant's object is one of its drafts.
DRAFT_ENDPOINTS = {"applicant.draft", "applicant.draft_autosave", "applicant.draft_section", "applicant.save_section",
                   "applicant.upload_attachment", "applicant.delete_attachment", "applicant.submit"}


@contextmanager
def in_db(app):
    with app.test_request_context():
        yield db.session
        db.session.commit()


def objects(app) -> dict[str, dict[str, str]]:
    """The URL values of the owner's objects, ``submitted`` and ``draft``
    variants: a file awaiting corrections (with a receipt, a document and a
    message with an attachment) and a draft (with a document)."""
    with in_db(app) as s:
        seed_demo(s)
        owner = s.execute(select(User).where(User.email == EMAILS["applicant"])).scalar_one()
        membership = s.execute(select(Membership).where(Membership.user_id == owner.id)).scalars().first()
        org = membership.organisation
        invitation, token = invite_member(s, owner, org, "invitee@example.fr")

        def file(state: str) -> Application:
            return s.execute(select(Application).where(Application.organisation_id == org.id, Application.state == state)
                             .order_by(Application.id)).scalars().first()

        submitted, draft = file("eligibility_check"), file("draft")
        instructor = s.execute(select(User).where(User.email == EMAILS["instructor"])).scalar_one()
        request_corrections(s, submitted, instructor, keys=["resume", "annexe_technique"], message="Précisez.",
                            due_date=date.today() + timedelta(days=15))
        store_document(s, submitted, "receipt", make_pdf("Accusé"), actor_id=owner.id)
        message = post_message(s, submitted, owner, "applicant", "Bonjour",
                               FileStorage(io.BytesIO(make_pdf("Note")), "note.pdf"))
        message_attachment = s.execute(select(Attachment).where(Attachment.message_id == message.id)).scalar_one()
        field_attachment = store_attachment(s, submitted, "annexe_technique", FileStorage(
            io.BytesIO(make_pdf("Annexe")), "annexe.pdf"), owner)
        draft_key = next(iter(file_fields(draft)))
        draft_attachment = store_attachment(s, draft, draft_key, FileStorage(io.BytesIO(document_for(draft_key)[0]),
                                                                              document_for(draft_key)[1]), owner)
        s.flush()
        values = {}
        for variant, application, attachment, key in (("submitted", submitted, field_attachment, "annexe_technique"),
                                                      ("draft", draft, draft_attachment, draft_key)):
            values[variant] = {
                "reference": application.reference,
                "attachment_id": str(attachment.id),
                "message_attachment_id": str(message_attachment.id),
                "key": key,
                "section": "projet",
                "name": "start_eligibility",
                "siret": org.siret,
                "membership_id": str(membership.id),
                "invitation_id": str(invitation.id),
                "token": token,
                "number": "1",
                "filename": "css/guichet.css",
            }
    return values


def url_for_rule(rule, values: dict[str, str], endpoint: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "reference" and (endpoint.startswith(("admin.", "public.")) or endpoint == "api.call_form"):
            return "PACK-IA-2026"  # a call's reference
        if name == "attachment_id" and endpoint == "applicant.message_attachment":
            return values["message_attachment_id"]
        return values[name]

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", replace, rule.rule)


def routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def refused(role: str, response, api: bool) -> bool:
    location = urlsplit(response.headers.get("Location", "")).path
    if api:
        return response.status_code in (401, 403, 404)
    if role == "anonymous":
        return response.status_code in (401, 403, 404) or (response.status_code == 302 and location == "/connexion")
    return response.status_code in (403, 404)


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(endpoints - set(ACCESS)) == [], "add these endpoints to ACCESS (who may reach them?)"
    assert sorted(set(ACCESS) - endpoints) == [], "these endpoints no longer exist: remove them from ACCESS"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_refuses_or_serves_each_role_as_the_table_says(app, role):
    values = objects(app)
    client = app.test_client()
    if role != "anonymous":
        assert login(client, EMAILS[role], "demo").status_code == 302
    wrong = []
    # GETs first, then state-changing requests; logging out last.
    ordered = sorted(routes(app), key=lambda rm: (rm[1] != "GET", rm[0].endpoint == "auth.logout"))
    for rule, method in ordered:
        endpoint = rule.endpoint
        variant = "draft" if endpoint in DRAFT_ENDPOINTS else "submitted"
        path = url_for_rule(rule, values[variant], endpoint)
        data = {"file": (io.BytesIO(b"%PDF-1.4\n"), "x.pdf")} if "upload" in endpoint else {}
        response = client.open(path, method=method, data=data)
        is_refused = refused(role, response, endpoint.startswith("api."))
        allowed = role in ACCESS.get(endpoint, frozenset())
        if allowed == is_refused or response.status_code >= 500:
            wrong.append(f"{method} {path} ({endpoint}): {response.status_code} "
                         f"{response.headers.get('Location', '')} — expected {'served' if allowed else 'refused'}")
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("who", ["applicant", "other_applicant"])
def test_api_objects_are_served_to_their_organisation_only(app, who):
    """Every API route on a file or an organisation, with a token of the owner
    (served) and of another organisation's member (404, nothing disclosed)."""
    values = objects(app)["submitted"]
    client = app.test_client()
    response = client.post("/api/v1/tokens", json={"email": EMAILS[who], "password": "demo", "scopes": ["read", "write"]})
    assert response.status_code == 201
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    wrong, checked = [], 0
    for rule, method in routes(app):
        if (not rule.endpoint.startswith("api.") or rule.endpoint == "api.call_form"
                or not ({"reference", "siret"} & set(rule.arguments))):
            continue
        path = url_for_rule(rule, values, rule.endpoint)
        if "upload" in rule.endpoint:
            response = client.open(path, method=method, headers=headers, data={})
        else:
            response = client.open(path, method=method, headers=headers, json={})
        checked += 1
        served = response.status_code not in (401, 403, 404) and response.status_code < 500
        if served != (who == "applicant"):
            wrong.append(f"{method} {path}: {response.status_code}")
    assert checked >= 8
    assert wrong == []
