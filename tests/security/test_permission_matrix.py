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

Objects (from the demo data): a submitted AMI file of the applicant's
organisation, awaiting corrections (drafts are private to the organisation, so
the draft-editing endpoints use one of its drafts), its first attachment, the
organisation's SIRET, its first membership and a pending invitation. On that
file the demo instructor and the demo expert have declared no conflict of
interest, the expert holds an active invitation and has submitted a review,
and an instruction report PDF exists: "allowed" then means served, not sent
to the declaration page. The payment pages use the organisation's file in
payment (an interim request waiting for « service fait », with a proof); a
file's letters, its approved file with a decision letter. The committee pages
use the decided session of the Commission permanente (where the demo committee
member sits), its first item and that item's decision letter; the export of
letters, a finished export of the demo finance officer; a saved view of the
demo instructor; a notification of the applicant.
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
from app.models import (AgendaItem, Application, Attachment, Committee, CommitteeSession, ConflictDeclaration, Document,
                        ExpertInvitation, Membership, Notification, PaymentRequest, Review, SavedView, UndertakingLink,
                        User)
from werkzeug.datastructures import FileStorage

from app import uploads
from app.documents import store_document
from app.operations import letters as letter_ops
from app.operations import payments as payment_ops
from app.operations import reviews as review_ops
from app.operations.experts import today
from app.models import utcnow
from app.operations.attachments import file_fields, store_attachment
from app.operations.demo import seed_demo
from app.operations.submission import post_message, request_corrections
from app.operations.organisations import invite_member
from tests.factories import login
from tests.journey import document_for, drain, make_pdf

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
EXPERTS = frozenset({"expert"})
REVIEWERS = frozenset({"instructor", "expert"})            # who scores the file: its call's instructor, an invited expert
LEADS = frozenset({"instructor", "admin"})                 # the file's lead: its (assigned) instructor or an administrator
STAFF_WORKSPACE = frozenset({"instructor", "admin"})
FILE_READERS = frozenset({"instructor", "finance", "admin"})  # FILE_READING_ROLES
COMMITTEE_PAGES = frozenset({"committee", "instructor", "admin"})  # a member of the session's committee, or staff
COMMITTEE_STAFF = frozenset({"instructor", "admin"})
FINANCE = frozenset({"finance"})
FINANCE_PAGES = frozenset({"finance", "admin"})
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
    "applicant.organisation_links": OWNER,
    "applicant.organisation_link_add": OWNER,
    "applicant.organisation_members": OWNER,
    "applicant.invitation_revoke": OWNER,
    "applicant.member_make_owner": OWNER,
    "applicant.member_remove": OWNER,
    # instruction: staff who read files (globally or on the file's call)
    "instruction.index": INSTRUCTORS,
    "instruction.application_detail": INSTRUCTORS,
    "instruction.download_attachment": INSTRUCTORS,
    "instruction.receipt": INSTRUCTORS,
    "instruction.decide_eligibility": INSTRUCTORS,
    "instruction.fire_transition": INSTRUCTORS,
    "instruction.post_message": INSTRUCTORS,
    "instruction.request_corrections": INSTRUCTORS,
    "instruction.rerun_eligibility": INSTRUCTORS,
    "instruction.declare_conflict": INSTRUCTORS,   # an instructor of the file's call declares before opening it
    "instruction.annotate": INSTRUCTORS,
    "instruction.assign": INSTRUCTORS,
    "instruction.invite_expert": INSTRUCTORS,
    "instruction.revoke_expert": INSTRUCTORS,
    # the instructors' workspace (instructors and administrators); a saved view is its owner's only
    "workspace.index": STAFF_WORKSPACE,
    "workspace.bulk": STAFF_WORKSPACE,
    "workspace.save_view": STAFF_WORKSPACE,
    "workspace.delete_view": INSTRUCTORS,          # the demo instructor's view: the admin gets 404
    "workspace.export": STAFF_WORKSPACE,
    # experts: only the files they hold an active invitation on
    "experts.index": EXPERTS,
    "experts.declare": EXPERTS,
    "experts.file": EXPERTS,
    # reviews: the reviewers of the file (instructor of the call, invited expert); the report: its lead
    "reviews.my_reviews": REVIEWERS,
    "reviews.review_form": REVIEWERS,
    "reviews.reopen": LEADS,
    "reviews.report": LEADS,
    "reviews.save_report": LEADS,
    "reviews.generate_pdf": LEADS,
    "reviews.download_pdf": LEADS,
    "reviews.propose": LEADS,
    "reviews.ranking": FILE_READERS,               # the call's ranking: staff who read its files
    # committee: members see the sessions of their committees; staff (admin, instructor) run them
    "committee.index": frozenset({"committee"}),
    "committee.declarations": frozenset({"committee"}),
    "committee.give_proxy": frozenset({"committee"}),   # a member, for himself
    "committee.session_detail": COMMITTEE_PAGES,
    "committee.item_detail": COMMITTEE_PAGES,
    "committee.item_document": COMMITTEE_PAGES,
    "committee.minutes_pdf": COMMITTEE_PAGES,
    # a member declares for himself; staff record one for a member they name (member_id), not for themselves
    "committee.declare_withdrawal": frozenset({"committee"}),
    "committee.vote": COMMITTEE_PAGES,
    "committee.manage": COMMITTEE_STAFF,
    "committee.create_committee": COMMITTEE_STAFF,
    "committee.committee_detail": COMMITTEE_STAFF,
    "committee.plan_session": COMMITTEE_STAFF,
    "committee.add_item": COMMITTEE_STAFF,
    "committee.update_item": COMMITTEE_STAFF,
    "committee.set_attendance": COMMITTEE_STAFF,
    "committee.session_status": COMMITTEE_STAFF,
    "committee.vote_status": COMMITTEE_STAFF,
    "committee.approve_minutes": COMMITTEE_STAFF,
    # finance: the envelope, the lists and exports, a file's ledger (finance and administrators)
    "finance.index": FINANCE_PAGES,
    "finance.commitments": FINANCE_PAGES,
    "finance.commitments_export": FINANCE_PAGES,
    "finance.payments": FINANCE_PAGES,
    "finance.payments_export": FINANCE_PAGES,
    "finance.file_ledger": FINANCE_PAGES,
    # envelopes: caps and payment credits, by finance and administrators in charge of every call
    "envelopes.index": FINANCE_PAGES,
    "envelopes.edit": FINANCE_PAGES,
    "undertakings.index": FINANCE_PAGES,
    "undertakings.remove": FINANCE_PAGES,
    # payments: the applicant on their own file; the finance department for the rest
    "payments.applicant_file": OWNER,
    "payments.file_request": OWNER,
    "payments.download_proof": frozenset({"applicant", "finance"}),
    "payments.queue": FINANCE,
    "payments.agreement": FINANCE,
    "payments.file_detail": FINANCE,
    "payments.cofinancing_form": FINANCE,
    "payments.request_detail": FINANCE,
    "payments.validate": FINANCE,
    "payments.reject": FINANCE,
    "payments.pay": FINANCE,
    "payments.reverse": FINANCE,
    "payments.leverage": FINANCE,
    # letters: the texts (admin), the batch export (finance; a job is its requester's only), a file's letters
    "letters.call_letters": frozenset({"admin"}),
    "letters.edit_letter": frozenset({"admin"}),
    "letters.exports": FINANCE,
    "letters.start_export": FINANCE,
    "letters.export_detail": FINANCE,              # the demo finance officer's own job
    "letters.export_status": FINANCE,
    "letters.export_retry": FINANCE,
    "letters.export_download": FINANCE,
    "letters.file_letter": OWNER | FILE_READERS,   # the file's organisation and the staff who read the call's files
    # notifications: everyone signed in has their own; a notification is its addressee's only
    "notifications.index": SIGNED_IN,
    "notifications.mark_all_read": SIGNED_IN,
    "notifications.read": OWNER,                   # a notification of the applicant
    "notifications.preferences": SIGNED_IN - APPLICANTS,  # e-mail preferences: staff only
    # public decisions and open data
    "public.decisions": EVERYONE,
    "opendata.index": EVERYONE,
    "opendata.download": EVERYONE,
    # administration
    "admin.index": frozenset({"admin"}),
    "admin.call_aid_regime": frozenset({"admin"}),
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
        "submit_application", "upload_attachment", "withdraw_application",
        "declare_conflict", "call_ranking", "list_committee_sessions", "get_committee_session")},
}

# Endpoints editing a draft: the applicant's object is one of its drafts.
DRAFT_ENDPOINTS = {"applicant.draft", "applicant.draft_autosave", "applicant.draft_section", "applicant.save_section",
                   "applicant.upload_attachment", "applicant.delete_attachment", "applicant.submit"}
# Endpoints on a file in payment (its agreement, payment requests, proofs and ledger).
PAYMENT_ENDPOINTS = {"payments.applicant_file", "payments.file_request", "payments.download_proof",
                     "payments.agreement", "payments.file_detail", "payments.cofinancing_form", "finance.file_ledger"}
# Endpoints on a decided file (its letters).
DECIDED_ENDPOINTS = {"letters.file_letter"}
# Endpoints whose <reference> is a call's, not a file's.
CALL_ENDPOINTS = {"api.call_form", "api.call_ranking", "letters.call_letters", "letters.edit_letter", "reviews.ranking"}


def variant_of(endpoint: str) -> str:
    if endpoint in DRAFT_ENDPOINTS:
        return "draft"
    if endpoint in PAYMENT_ENDPOINTS:
        return "payments"
    if endpoint in DECIDED_ENDPOINTS:
        return "decided"
    return "submitted"


@contextmanager
def in_db(app):
    with app.test_request_context():
        yield db.session
        db.session.commit()


def _user(s, role: str) -> User:
    return s.execute(select(User).where(User.email == EMAILS[role])).scalar_one()


def _proof(s, payment_request: PaymentRequest, owner: User) -> Attachment:
    """A proof of expenses on ``payment_request``, stored as the payment pages store them."""
    stored = uploads.check_and_store(io.BytesIO(make_pdf("Facture")), "facture.pdf", accept=["application/pdf"],
                                     max_bytes=10 * 1024 * 1024)
    attachment = Attachment(application_id=payment_request.application_id,
                            field_key=f"{payment_ops.PROOF_KEY_PREFIX}{payment_request.id}",
                            original_name=stored.original_name, stored_name=stored.stored_name,
                            content_type=stored.content_type, size_bytes=stored.size_bytes, sha256=stored.sha256,
                            scan_status="not_scanned", uploaded_by_id=owner.id)
    s.add(attachment)
    s.flush()
    return attachment


def objects(app) -> dict[str, dict[str, str]]:
    """The URL values of the owner's objects, ``submitted``, ``draft``,
    ``payments`` and ``decided`` variants: a file awaiting corrections (with a
    receipt, a document, a message with an attachment, the reviewers'
    declarations, an expert's invitation and review, an instruction report), a
    draft (with a document), a file in payment (with an interim request and
    its proof) and an approved file (with its decision letter); and the staff
    objects every variant shares (see the module's docstring)."""
    with in_db(app) as s:
        seed_demo(s)
        owner = _user(s, "applicant")
        membership = s.execute(select(Membership).where(Membership.user_id == owner.id)).scalars().first()
        org = membership.organisation
        invitation, token = invite_member(s, owner, org, "invitee@example.fr")
        instructor, expert, finance = _user(s, "instructor"), _user(s, "expert"), _user(s, "finance")

        def file(state: str) -> Application:
            return s.execute(select(Application).where(Application.organisation_id == org.id, Application.state == state)
                             .order_by(Application.id)).scalars().first()

        submitted, draft = file("eligibility_check"), file("draft")
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
        # The reviewers of the file: both declared no conflict; the expert is invited and has scored it.
        expert_invitation = s.execute(select(ExpertInvitation).where(
            ExpertInvitation.application_id == submitted.id, ExpertInvitation.expert_id == expert.id,
            ExpertInvitation.revoked_at.is_(None))).scalars().first()
        if expert_invitation is None:
            expert_invitation = ExpertInvitation(application_id=submitted.id, expert_id=expert.id,
                                                 invited_by_id=instructor.id, due_on=today() + timedelta(days=14))
            s.add(expert_invitation)
        for reviewer, role in ((instructor, "instructor"), (expert, "expert")):
            s.add(ConflictDeclaration(application_id=submitted.id, user_id=reviewer.id, role=role, has_conflict=False))
        review = s.execute(select(Review).where(Review.application_id == submitted.id,
                                                Review.reviewer_id == expert.id)).scalar_one_or_none()
        if review is None:
            grid = review_ops.grid_for(submitted.call)
            review = Review(application_id=submitted.id, reviewer_id=expert.id, reviewer_role="expert",
                            status="submitted", grid_name=grid.name,
                            scores={criterion.code: grid.scale.max for criterion in grid.criteria},
                            comments={}, opinion="Avis favorable.", submitted_at=utcnow())
            s.add(review)
        store_document(s, submitted, review_ops.REPORT_KIND, make_pdf("Rapport"), actor_id=instructor.id)
        # A file in payment, its interim request waiting for « service fait » and the request's proof.
        payment_request = s.execute(
            select(PaymentRequest).join(Application, Application.id == PaymentRequest.application_id)
            .where(Application.organisation_id == org.id, Application.state == "payments",
                   PaymentRequest.status == "filed").order_by(PaymentRequest.id)).scalars().first()
        in_payment = payment_request.application
        proof = _proof(s, payment_request, owner)
        # An approved file with its decision letter.
        letter = s.execute(
            select(Document).join(Application, Application.id == Document.application_id)
            .where(Application.organisation_id == org.id, Application.state == "approved",
                   Document.kind == "decision_letter").order_by(Document.id)).scalars().first()
        decided = letter.application if hasattr(letter, "application") else s.get(Application, letter.application_id)
        # The committee: the decided session of the Commission permanente, its first item and that item's letter.
        committee = s.execute(select(Committee).where(Committee.code == "CP")).scalar_one()
        session = s.execute(select(CommitteeSession).where(CommitteeSession.committee_id == committee.id,
                                                           CommitteeSession.status == "closed")).scalars().first()
        item = s.execute(select(AgendaItem).where(AgendaItem.session_id == session.id)
                         .order_by(AgendaItem.position)).scalars().first()
        item_document = s.execute(select(Document).where(Document.application_id == item.application_id)
                                  .order_by(Document.id)).scalars().first()
        view = s.execute(select(SavedView).where(SavedView.user_id == instructor.id)).scalars().first()
        notification = s.execute(select(Notification).where(Notification.user_id == owner.id)
                                 .order_by(Notification.id)).scalars().first()
        s.flush()
        shared = {
            "siret": org.siret,
            "membership_id": str(membership.id),
            "invitation_id": str(invitation.id),
            "expert_invitation_id": str(expert_invitation.id),
            "token": token,
            "number": "1",
            "filename": "css/guichet.css",
            "section": "projet",
            "name": "start_eligibility",
            "message_attachment_id": str(message_attachment.id),
            "review_id": str(review.id),
            "request_id": str(payment_request.id),
            "session_id": str(session.id),
            "item_id": str(item.id),
            "document_id": str(item_document.id),
            "committee_id": str(committee.id),
            "view_id": str(view.id),
            "notification_id": str(notification.id),
            "action": "ouvrir",
            "extension": "csv",
            "kind": "decision_letter",
            "letter_text_kind": "decision_approval",
            "call_reference": submitted.call.reference,
            "account_key": f"axis:{submitted.call.axis_id}",
            "link_id": str(s.execute(select(UndertakingLink.id).order_by(UndertakingLink.id)).scalars().first()),
        }
        values = {}
        for variant, application, attachment, key in (
                ("submitted", submitted, field_attachment, "annexe_technique"),
                ("draft", draft, draft_attachment, draft_key),
                ("payments", in_payment, proof, "annexe_technique"),
                ("decided", decided, field_attachment, "annexe_technique")):
            values[variant] = {**shared, "reference": application.reference, "attachment_id": str(attachment.id),
                               "key": key}
    # The jobs the seeding queued (the minutes PDF among them) run as a worker would.
    drain(app)
    # A finished export of decision letters, requested by the demo finance officer.
    with in_db(app) as s:
        finance = _user(s, "finance")
        job = letter_ops.export_letters(s, [int(s.execute(select(Application.id).where(
            Application.reference == values["decided"]["reference"])).scalar_one())], finance, label="Matrice")
        job_id = job.id
    with app.app_context():
        letter_ops.run_letters_export(job_id)
        db.session.remove()
    for variant in values.values():
        variant["job_id"] = str(job_id)
    return values


def url_for_rule(rule, values: dict[str, str], endpoint: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "reference" and (endpoint.startswith(("admin.", "public.")) or endpoint in CALL_ENDPOINTS):
            return "PACK-IA-2026" if endpoint.startswith(("admin.", "public.")) else values["call_reference"]
        if name == "attachment_id" and endpoint == "applicant.message_attachment":
            return values["message_attachment_id"]
        if name == "invitation_id" and endpoint == "instruction.revoke_expert":
            return values["expert_invitation_id"]
        if name == "kind" and endpoint == "letters.edit_letter":
            return values["letter_text_kind"]
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
        path = url_for_rule(rule, values[variant_of(endpoint)], endpoint)
        data = {"file": (io.BytesIO(b"%PDF-1.4\n"), "x.pdf")} if "upload" in endpoint else {}
        # buffered: a streamed answer (CSV, open data) is read and closed at once, ending its request
        # (and its transaction: SQLite's lock) as a server would
        response = client.open(path, method=method, data=data, buffered=True)
        is_refused = refused(role, response, endpoint.startswith("api."))
        allowed = role in ACCESS.get(endpoint, frozenset())
        if allowed == is_refused or response.status_code >= 500:
            wrong.append(f"{method} {path} ({endpoint}): {response.status_code} "
                         f"{response.headers.get('Location', '')} — expected {'served' if allowed else 'refused'}")
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


# API routes for staff (a token of the right role, whatever the organisation): endpoint → the roles served.
STAFF_API: dict[str, frozenset[str]] = {
    "api.declare_conflict": INSTRUCTORS,           # a reviewer of the file's call declares (experts: on their pages)
    "api.call_ranking": FILE_READERS,
    "api.list_committee_sessions": frozenset({"committee", "instructor", "finance", "admin"}),
    "api.get_committee_session": frozenset({"committee", "instructor", "finance", "admin"}),  # the member sits on it
}


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
        if (not rule.endpoint.startswith("api.") or rule.endpoint in CALL_ENDPOINTS or rule.endpoint in STAFF_API
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


def test_staff_api_routes_serve_their_roles_only(app):
    """The staff routes of the API, with a token of every demo account: served
    to the roles of ``STAFF_API``, refused (403/404) to the others."""
    values = objects(app)["submitted"]
    client = app.test_client()
    staff_rules = [(rule, method) for rule, method in routes(app) if rule.endpoint in STAFF_API]
    assert {rule.endpoint for rule, _m in staff_rules} == set(STAFF_API)
    wrong = []
    for role in SIGNED_IN:
        response = client.post("/api/v1/tokens", json={"email": EMAILS[role], "password": "demo",
                                                       "scopes": ["read", "write"]})
        assert response.status_code == 201, role
        headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
        for rule, method in staff_rules:
            path = url_for_rule(rule, values, rule.endpoint)
            response = client.open(path, method=method, headers=headers, json={"conflict": False})
            served = response.status_code not in (401, 403, 404) and response.status_code < 500
            if served != (role in STAFF_API[rule.endpoint]) or response.status_code >= 500:
                wrong.append(f"{role}: {method} {path}: {response.status_code}")
    assert wrong == []


# --- Staff of the wrong scope ----------------------------------------------------------------------------------
# Staff roles can be held on one call only (RoleAssignment.call_id). Three more accounts, built beside the demo:
# an instructor and a finance officer who hold their role only on another call (not a demo call), and an expert
# invited to nothing. On every route they would reach with the right scope, an object of the demo calls (a file,
# its attachments, reviews, payment requests and letters, a call's ranking, a committee session whose agenda holds
# the demo calls' files, its items and documents) is refused to them: 403 or 404. Routes without such an object
# (their own lists and forms) still serve them, as they serve their role.
SCOPED: dict[str, tuple[str, bool]] = {          # account → (its role, scoped to the other call)
    "scoped_instructor": ("instructor", True),
    "scoped_finance": ("finance", True),
    "uninvited_expert": ("expert", False),
}
SCOPED_EMAIL = {name: f"{name.replace('_', '-')}@guichet.test" for name in SCOPED}
# URL parts naming an object of the demo calls (or another person's: a saved view, an export job)
OBJECT_ARGUMENTS = frozenset({"reference", "attachment_id", "session_id", "item_id", "document_id", "review_id",
                              "request_id", "invitation_id", "job_id", "view_id"})
# Routes for staff in charge of every call only (a cap binds every call below it): refused to any scoped account.
WHOLE_PLAN_ONLY = frozenset({"envelopes.index", "envelopes.edit", "undertakings.index", "undertakings.remove"})


DEMO_REFERENCE = re.compile(r"\b(?:PIA|AMI)-\d{4}-\d{4}\b")


def scoped_staff(app) -> int:
    """Create the other call and the three accounts; the other call's id."""
    from tests.factories import make_call, make_user

    with in_db(app) as s:
        other = make_call(s, reference="AUTRE-APPEL-2026", prefix="AUT")
        for name, (role, scoped) in SCOPED.items():
            make_user(s, (role, other.id if scoped else None), email=SCOPED_EMAIL[name], name=name)
        return other.id


def touches_an_object(rule) -> bool:
    return bool(OBJECT_ARGUMENTS & set(rule.arguments))


def scoped_expectation(account: str, rule) -> bool:
    """True when ``account`` must be served on ``rule``: its role may reach the endpoint, and the route names
    no object of the demo calls (public and authentication pages serve everyone)."""
    role = SCOPED[account][0]
    allowed = ACCESS.get(rule.endpoint, frozenset())
    if allowed == EVERYONE:
        return True
    return role in allowed and not touches_an_object(rule) and not (SCOPED[account][1] and rule.endpoint in WHOLE_PLAN_ONLY)


@pytest.mark.parametrize("account", list(SCOPED))
def test_staff_of_another_scope_are_refused_on_every_object_of_the_demo_calls(app, account):
    values = objects(app)
    scoped_staff(app)
    client = app.test_client()
    assert login(client, SCOPED_EMAIL[account]).status_code == 302
    role = SCOPED[account][0]
    wrong, refused_objects = [], 0
    ordered = sorted(routes(app), key=lambda rm: (rm[1] != "GET", rm[0].endpoint == "auth.logout"))
    for rule, method in ordered:
        endpoint = rule.endpoint
        path = url_for_rule(rule, values[variant_of(endpoint)], endpoint)
        data = {"file": (io.BytesIO(b"%PDF-1.4\n"), "x.pdf")} if "upload" in endpoint else {}
        response = client.open(path, method=method, data=data, buffered=True)
        is_refused = refused(account, response, endpoint.startswith("api."))
        served = scoped_expectation(account, rule)
        if served == is_refused or response.status_code >= 500:
            wrong.append(f"{method} {path} ({endpoint}): {response.status_code} "
                         f"{response.headers.get('Location', '')} — expected {'served' if served else 'refused'}")
        if role in ACCESS.get(endpoint, frozenset()) and not served:
            refused_objects += 1
        # a list or an export served to them holds nothing of the demo calls' files
        if (served and method == "GET" and ACCESS.get(endpoint) != EVERYONE and response.status_code == 200
                and DEMO_REFERENCE.search(response.get_data(as_text=True))):
            wrong.append(f"GET {path} ({endpoint}) shows {DEMO_REFERENCE.search(response.get_data(as_text=True))[0]}")
    # the check reached the routes of the role's own work on the demo objects, not only foreign ones
    assert refused_objects >= {"instructor": 25, "finance": 12, "expert": 4}[role]
    assert wrong == [], f"{account}:\n" + "\n".join(wrong)


def test_staff_api_tokens_of_another_scope_see_nothing_of_the_demo_calls(app):
    """The API with a token of each wrong-scope account: every route on a demo file, a demo call's ranking or a
    session of the demo calls answers 403 or 404; the lists answer, without the demo calls' files."""
    values = objects(app)["submitted"]
    scoped_staff(app)
    client = app.test_client()
    wrong, checked = [], 0
    for account in SCOPED:
        response = client.post("/api/v1/tokens", json={"email": SCOPED_EMAIL[account],
                                                       "password": "un mot de passe solide",
                                                       "scopes": ["read", "write"]})
        assert response.status_code == 201, account
        headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
        for rule, method in routes(app):
            if (not rule.endpoint.startswith("api.") or rule.endpoint == "api.call_form"  # a published call's form
                    or not ({"reference", "session_id"} & set(rule.arguments))):
                continue
            path = url_for_rule(rule, values, rule.endpoint)
            if "upload" in rule.endpoint:
                response = client.open(path, method=method, headers=headers, data={})
            else:
                response = client.open(path, method=method, headers=headers, json={"conflict": False})
            checked += 1
            if response.status_code not in (401, 403, 404):
                wrong.append(f"{account}: {method} {path}: {response.status_code}")
        listed = client.get("/api/v1/applications", headers=headers)
        if listed.status_code == 200 and listed.get_json()["items"]:
            wrong.append(f"{account}: GET /api/v1/applications lists {len(listed.get_json()['items'])} files")
        sessions = client.get("/api/v1/committee/sessions", headers=headers)
        if sessions.status_code == 200 and any(s["id"] == int(values["session_id"])
                                               for s in sessions.get_json()["items"]):
            wrong.append(f"{account}: GET /api/v1/committee/sessions lists the demo session")
    assert checked >= 3 * 12
    assert wrong == []


def test_an_instructor_of_one_call_runs_the_sessions_of_that_calls_files_only(app):
    """The other side of the scoping: an instructor holding the role on the Pack IA only plans a session, sees
    only the Pack IA files ready for a committee in its agenda form, puts one on the agenda (another call's
    file is refused), runs the session; once a file of another call is on its agenda, he sees only his call's
    items and can no longer run it (403), and the demo sessions show him none of the AMI's files — while the
    global instructor still sees them all."""
    from app.models import InstructionReport
    from tests.factories import TEST_PASSWORD, make_application, make_user

    with in_db(app) as s:
        seed_demo(s)
        pack = s.execute(select(Application).where(Application.reference.like("PIA-%"))).scalars().first().call
        ami = s.execute(select(Application).where(Application.reference.like("AMI-%"))).scalars().first().call
        org = s.execute(select(Membership).where(Membership.user_id == _user(s, "applicant").id)).scalars().first() \
            .organisation
        ready = {}
        for call in (pack, ami):
            application = make_application(s, call, org, state="committee", amount_cents=30_000_00,
                                           title=f"Prêt pour la commission ({call.reference})")
            application.proposed_amount_cents = 25_000_00
            s.add(InstructionReport(application_id=application.id, expense_decisions={},
                                    opinion="Avis favorable de l'instruction."))  # a file goes to committee with it
            ready[call.reference] = (application.id, application.reference)
        make_user(s, ("instructor", pack.id), email="pack-instructor@guichet.test", name="Instructrice Pack IA")
        committee_id = s.execute(select(Committee.id).where(Committee.code == "CP")).scalar_one()
        demo_sessions = list(s.execute(select(CommitteeSession.id)).scalars())
    pack_ref, ami_ref = ready["PACK-IA-2026"][1], ready["AMI-ECONUM-2026"][1]
    scoped, everywhere = app.test_client(), app.test_client()
    assert login(scoped, "pack-instructor@guichet.test", TEST_PASSWORD).status_code == 302
    assert login(everywhere, EMAILS["instructor"], "demo").status_code == 302
    for session_id in demo_sessions:  # refused, or shown with the Pack IA's items only
        response = scoped.get(f"/commission/seances/{session_id}")
        assert response.status_code in (200, 403)
        if response.status_code == 200:
            assert not re.search(r"\bAMI-\d{4}-\d{4}\b", response.get_data(as_text=True))
        assert everywhere.get(f"/commission/seances/{session_id}").status_code == 200

    response = scoped.post("/commission/seances", data={"session-committee_id": str(committee_id),
                                                        "session-day": "2030-03-12", "session-time": "10:00",
                                                        "session-place": "Metz"})
    assert response.status_code == 302
    session_id = int(re.search(r"/commission/seances/(\d+)", response.headers["Location"]).group(1))
    page = scoped.get(f"/commission/seances/{session_id}").get_data(as_text=True)
    assert pack_ref in page and ami_ref not in page          # the agenda form offers his call's files only
    scoped.post(f"/commission/seances/{session_id}/points", data={"item-application_id": str(ready["AMI-ECONUM-2026"][0])})
    scoped.post(f"/commission/seances/{session_id}/points", data={"item-application_id": str(ready["PACK-IA-2026"][0])})
    with in_db(app) as s:
        on_agenda = set(s.execute(select(AgendaItem.application_id).where(AgendaItem.session_id == session_id)).scalars())
    assert on_agenda == {ready["PACK-IA-2026"][0]}
    assert scoped.post(f"/commission/seances/{session_id}/ouvrir").status_code == 302
    with in_db(app) as s:
        assert s.get(CommitteeSession, session_id).status == "open"

    # the global instructor adds the AMI file: the session is no longer his alone to run
    response = everywhere.post(f"/commission/seances/{session_id}/points",
                               data={"item-application_id": str(ready["AMI-ECONUM-2026"][0])})
    assert response.status_code == 302
    with in_db(app) as s:
        assert ready["AMI-ECONUM-2026"][0] in set(s.execute(select(AgendaItem.application_id).where(
            AgendaItem.session_id == session_id)).scalars())
    response = scoped.get(f"/commission/seances/{session_id}")  # his call's items only
    assert response.status_code == 200 and ami_ref not in response.get_data(as_text=True)
    assert scoped.post(f"/commission/seances/{session_id}/clore").status_code == 403
    assert everywhere.get(f"/commission/seances/{session_id}").status_code == 200
