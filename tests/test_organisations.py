"""Organisations: registration by SIRET (pages and API), registry prefill, legal
data and size, members and invitations, access of non-members, audit, CSRF."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.models import AuditEntry, Membership, Organisation, OrganisationInvitation, User, utcnow
from app.operations import organisations as ops
from app.operations.demo import make_siret
from app.registry import DATA_FILE, CompanyRecord, OfflineRegistry, get_registry
from tests.factories import TEST_PASSWORD, csrf_token_from, login, make_organisation, make_user

REGISTRY = json.loads(DATA_FILE.read_text(encoding="utf-8"))["companies"]
KNOWN = REGISTRY[0]  # Vision Lorraine Industrie, Nancy (54)
UNKNOWN_SIRET = make_siret(12_345_678, 7)
LA_POSTE = "35600000049837"
BAD_SIRET = "12345678901234"
M = 1_000_000 * 100


# --- helpers -----------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


def applicant(session, email: str, name: str = "Test User") -> User:
    user = make_user(session, email=email, name=name)
    session.commit()
    return user


def logged_in(app, email: str):
    client = app.test_client()
    response = login(client, email)
    assert response.status_code == 302, f"login of {email} failed"
    return client


def count(session, model) -> int:
    n = session.execute(select(func.count()).select_from(model)).scalar_one()
    session.rollback()
    return n


def audit_actions(session, object_type: str = "organisation") -> list[str]:
    actions = list(session.execute(
        select(AuditEntry.action).where(AuditEntry.object_type == object_type).order_by(AuditEntry.id)).scalars())
    session.rollback()
    return actions


def form_data(**overrides) -> dict[str, str]:
    data = {
        "siret": UNKNOWN_SIRET, "name": "Atelier des Vosges", "legal_form": "SAS", "naf_code": "62.01Z",
        "address": "1 rue du Lac", "postal_code": "88000", "city": "Épinal", "department": "88",
        "headcount": "42", "turnover_cents": "1 234 567,89", "balance_sheet_cents": "900 000",
        "group_headcount": "", "group_turnover_cents": "", "group_balance_sheet_cents": "",
    }
    data.update(overrides)
    return data


def organisation_by_siret(session, siret: str) -> Organisation | None:
    return session.execute(select(Organisation).where(Organisation.siret == siret)).scalar_one_or_none()


def owned_organisation(session, owner: User, *others: User, **kwargs) -> Organisation:
    organisation = make_organisation(session, owner, *others, **kwargs)
    session.commit()
    return organisation


def invite(client, siret: str, email: str):
    return client.post(f"/espace/organisations/{siret}/invitations", data={"email": email})


def invitation_link(outbox, to: str) -> str:
    message = next(m for m in outbox if m["To"] == to)
    match = re.search(r"https?://[^/\s]+(/espace/invitations/\S+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def api_token(client, email: str, scopes=("read", "write")) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": TEST_PASSWORD, "scopes": list(scopes)})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


# --- the offline registry ------------------------------------------------------------------------


def test_offline_registry_holds_valid_grand_est_sirets():
    from stdnum.fr import siret

    from app.models import GRAND_EST_DEPARTMENTS

    registry = OfflineRegistry()
    assert len(registry) == len(REGISTRY) >= 5
    for row in REGISTRY:
        assert siret.is_valid(row["siret"]), row
        assert row["department"] in GRAND_EST_DEPARTMENTS
        assert row["postal_code"].startswith(row["department"])
        record = registry.lookup(row["siret"])
        assert isinstance(record, CompanyRecord) and record.name == row["name"]
    assert registry.lookup(UNKNOWN_SIRET) is None


def test_registry_is_chosen_by_config(app):
    assert app.config["COMPANY_REGISTRY"] == "offline"
    assert isinstance(get_registry(app), OfflineRegistry)


# --- registration through the pages --------------------------------------------------------------


def test_lookup_step_prefills_from_the_registry(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.get("/espace/organisations/nouvelle", query_string={"siret": KNOWN["siret"]})
    assert response.status_code == 200
    page = text_of(response)
    assert "trouvée dans le répertoire" in page
    assert f'value="{KNOWN["name"]}"' in page
    assert f'value="{KNOWN["city"]}"' in page
    assert f'value="{KNOWN["naf_code"]}"' in page
    assert re.search(rf'<option selected value="{KNOWN["department"]}"|<option value="{KNOWN["department"]}" selected', page)
    assert count(session, Organisation) == 0  # looking up writes nothing


def test_lookup_step_with_a_spaced_siret_works_and_says_when_the_registry_does_not_know_it(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    spaced = f"{UNKNOWN_SIRET[:3]} {UNKNOWN_SIRET[3:6]} {UNKNOWN_SIRET[6:9]} {UNKNOWN_SIRET[9:]}"
    page = text_of(client.get("/espace/organisations/nouvelle", query_string={"siret": spaced}))
    assert "n'a pas été trouvé dans le répertoire" in page
    assert f'value="{UNKNOWN_SIRET}"' in page


def test_lookup_step_refuses_an_invalid_siret_next_to_the_field(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.get("/espace/organisations/nouvelle", query_string={"siret": BAD_SIRET})
    page = text_of(response)
    assert "Ce numéro SIRET n'est pas valide" in page
    assert 'aria-invalid="true"' in page
    assert 'name="name"' not in page  # still step 1


def test_register_with_french_amounts_creates_the_organisation_owned_by_the_user(app, session):
    user = applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.post("/espace/organisations/nouvelle", data=form_data())
    assert response.status_code == 302
    assert path_of(response) == f"/espace/organisations/{UNKNOWN_SIRET}"
    organisation = organisation_by_siret(session, UNKNOWN_SIRET)
    assert organisation is not None
    assert organisation.siren == UNKNOWN_SIRET[:9]
    assert organisation.turnover_cents == 123_456_789
    assert organisation.balance_sheet_cents == 90_000_000
    assert organisation.headcount == 42
    assert organisation.naf_code == "6201Z"
    assert organisation.department == "88"
    assert organisation.size_category == "small"
    assert organisation.size_basis["total"] == {"headcount": 42, "turnover_cents": 123_456_789,
                                                "balance_sheet_cents": 90_000_000}
    assert organisation.size_computed_at is not None
    (membership,) = organisation.memberships
    assert membership.user_id == user.id and membership.is_owner
    session.rollback()
    assert audit_actions(session) == ["register_organisation"]
    detail = text_of(client.get(path_of(response)))
    assert "Petite entreprise" in detail
    assert "1 234 567,89 €" in detail.replace("\u202f", " ").replace("\xa0", " ")


def test_register_with_an_invalid_siret_is_refused_and_creates_nothing(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.post("/espace/organisations/nouvelle", data=form_data(siret=BAD_SIRET))
    assert response.status_code == 200
    page = text_of(response)
    assert "Ce numéro SIRET n'est pas valide" in page
    assert "Le formulaire contient des erreurs" in page
    assert count(session, Organisation) == 0
    assert count(session, Membership) == 0
    assert audit_actions(session) == []


def test_register_la_poste_siret_is_accepted(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.post("/espace/organisations/nouvelle",
                           data=form_data(siret=LA_POSTE, name="La Poste", postal_code="75015", department="other",
                                          headcount="", turnover_cents="", balance_sheet_cents=""))
    assert response.status_code == 302, text_of(response)
    organisation = organisation_by_siret(session, LA_POSTE)
    assert organisation.siren == "356000000"
    assert organisation.department == "75"  # « other »: taken from the postal code
    assert organisation.size_category is None
    assert organisation.size_basis["missing"] == ["headcount", "turnover_cents", "balance_sheet_cents"]
    session.rollback()
    page = text_of(client.get(f"/espace/organisations/{LA_POSTE}"))
    assert "Catégorie non déterminée" in page and "hors Grand Est" in page


def test_register_a_duplicate_siret_is_refused_with_a_hint_to_ask_the_owner(app, session):
    owner = applicant(session, "owner@example.test")
    existing = owned_organisation(session, owner)
    applicant(session, "b@example.test")
    client = logged_in(app, "b@example.test")
    response = client.post("/espace/organisations/nouvelle", data=form_data(siret=existing.siret))
    page = text_of(response)
    assert "déjà inscrite" in page and "inviter" in page
    assert count(session, Organisation) == 1
    assert count(session, Membership) == 1
    lookup = text_of(client.get("/espace/organisations/nouvelle", query_string={"siret": existing.siret}))
    assert "déjà inscrite" in lookup


@pytest.mark.parametrize("field,value,message", [
    ("turnover_cents", "12,345", "centimes"),
    ("turnover_cents", "beaucoup", "Saisissez un montant en euros"),
    ("balance_sheet_cents", "-5", "négatif"),
    ("headcount", "quarante", "nombre entier"),
    ("naf_code", "6201", "code NAF"),
    ("postal_code", "8800", "5 chiffres"),
    ("department", "ZZ", "Département inconnu"),
])
def test_bad_fields_are_refused_next_to_the_field_and_nothing_is_written(app, session, field, value, message):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    response = client.post("/espace/organisations/nouvelle", data=form_data(**{field: value}))
    assert response.status_code == 200
    page = text_of(response)
    assert f'id="{field}-errors"' in page
    assert message in page
    assert count(session, Organisation) == 0


def test_amounts_accept_the_usual_french_spellings(app):
    from app.forms.organisations import format_money_input, parse_money

    for typed in ("1 234 567,89", "1\u202f234\u202f567,89", "1\xa0234\xa0567,89 €", "1234567,89", "1234567.89"):
        assert parse_money(typed, "fr") == 123_456_789, typed
    assert parse_money("2 000 000", "fr") == 2 * M
    assert parse_money("1,234,567.89", "en") == 123_456_789
    assert parse_money(format_money_input(123_456_789, "fr"), "fr") == 123_456_789
    for bad in ("1 23 4,5", "1,5,6", "12,345", "abc", "-1"):
        with pytest.raises(ValueError):
            parse_money(bad, "fr")


def test_other_department_inside_grand_est_is_refused(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    page = text_of(client.post("/espace/organisations/nouvelle",
                               data=form_data(department="other", postal_code="67000")))
    assert "choisissez-le dans la liste" in page
    assert count(session, Organisation) == 0


def test_registration_form_enforces_csrf(app, session, csrf):
    applicant(session, "a@example.test")
    client = app.test_client()
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    assert client.post("/connexion", data={"email": "a@example.test", "password": TEST_PASSWORD,
                                           "csrf_token": token}).status_code == 302
    refused = client.post("/espace/organisations/nouvelle", data=form_data())
    assert refused.status_code == 400
    assert "Le formulaire a expiré" in text_of(refused)
    assert count(session, Organisation) == 0
    step2 = client.get("/espace/organisations/nouvelle", query_string={"siret": UNKNOWN_SIRET}).get_data(as_text=True)
    accepted = client.post("/espace/organisations/nouvelle", data=form_data(csrf_token=csrf_token_from(step2)))
    assert accepted.status_code == 302
    assert count(session, Organisation) == 1


def test_anonymous_and_staff_cannot_reach_the_organisation_pages(app, session):
    make_user(session, "instructor", email="staff@example.test")
    session.commit()
    anonymous = app.test_client().get("/espace/organisations/nouvelle")
    assert anonymous.status_code == 302 and path_of(anonymous) == "/connexion"
    staff = logged_in(app, "staff@example.test")
    assert staff.get("/espace/organisations").status_code == 403
    assert staff.post("/espace/organisations/nouvelle", data=form_data()).status_code == 403
    assert count(session, Organisation) == 0


# --- edition and size ----------------------------------------------------------------------------


def test_member_edits_legal_data_and_the_size_is_recomputed_and_audited(app, session):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    siret = organisation.siret
    client = logged_in(app, "member@example.test")
    edit_page = text_of(client.get(f"/espace/organisations/{siret}/modifier"))
    assert 'name="turnover_cents"' in edit_page
    data = form_data(headcount="40", turnover_cents="8 000 000", balance_sheet_cents="6 000 000",
                     group_headcount="15", group_turnover_cents="5 000 000", group_balance_sheet_cents="5 000 000")
    data.pop("siret")
    response = client.post(f"/espace/organisations/{siret}/modifier", data=data)
    assert response.status_code == 302
    organisation = organisation_by_siret(session, siret)
    assert organisation.size_category == "medium"  # 55 people with the group
    assert organisation.size_basis["group"]["headcount"] == 15
    assert organisation.group_turnover_cents == 5 * M
    session.rollback()
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "update_organisation")).scalar_one()
    assert entry.actor_id == member.id
    assert entry.before["size_category"] is None and entry.after["size_category"] == "medium"
    assert entry.after["headcount"] == 40 and entry.before["headcount"] is None
    session.rollback()
    # The edit page shows the amounts back in French format.
    shown = text_of(client.get(f"/espace/organisations/{siret}/modifier")).replace("\u202f", " ")
    assert 'value="8 000 000,00"' in shown


def test_edit_without_change_writes_no_audit_row(app, session):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner, name="Sans changement")
    client = logged_in(app, "owner@example.test")
    form = {"name": "Sans changement", "department": "67"}
    assert client.post(f"/espace/organisations/{organisation.siret}/modifier", data=form).status_code == 302
    assert "update_organisation" not in audit_actions(session)


def test_another_user_cannot_see_or_edit_an_organisation(app, session):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner, name="Privée")
    siret = organisation.siret
    applicant(session, "stranger@example.test")
    client = logged_in(app, "stranger@example.test")
    assert client.get(f"/espace/organisations/{siret}").status_code == 404
    assert client.get(f"/espace/organisations/{siret}/modifier").status_code == 404
    assert client.post(f"/espace/organisations/{siret}/modifier", data={"name": "Pirate"}).status_code == 404
    assert client.get(f"/espace/organisations/{siret}/membres").status_code == 404
    assert invite(client, siret, "x@example.test").status_code == 404
    assert "Privée" not in text_of(client.get("/espace/organisations"))
    assert organisation_by_siret(session, siret).name == "Privée"
    assert count(session, OrganisationInvitation) == 0


# --- invitations ---------------------------------------------------------------------------------


def test_owner_invites_by_email_and_the_invitee_accepts(app, session, outbox):
    owner = applicant(session, "owner@example.test", name="Olivia Owner")
    organisation = owned_organisation(session, owner, name="Atelier invitant")
    siret = organisation.siret
    invitee = applicant(session, "invitee@example.test", name="Ines Invitee")
    owner_client = logged_in(app, "owner@example.test")
    response = invite(owner_client, siret, "Invitee@Example.test")
    assert response.status_code == 302
    assert len(outbox) == 1 and outbox[0]["To"] == "invitee@example.test"
    assert "Atelier invitant" in outbox[0]["Subject"]
    link = invitation_link(outbox, "invitee@example.test")
    token = link.rsplit("/", 1)[1]
    invitation = session.execute(select(OrganisationInvitation)).scalar_one()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in invitation.token_hash
    assert timedelta(days=13, hours=23) < invitation.expires_at - invitation.created_at <= timedelta(days=14)
    session.rollback()
    members_page = text_of(owner_client.get(f"/espace/organisations/{siret}/membres"))
    assert "invitee@example.test" in members_page  # pending

    client = logged_in(app, "invitee@example.test")
    page = text_of(client.get(link))
    assert "Atelier invitant" in page and "Olivia Owner" in page and "invitee@example.test" in page
    response = client.post(link)
    assert response.status_code == 302
    assert path_of(response) == f"/espace/organisations/{siret}"
    membership = session.execute(select(Membership).where(Membership.user_id == invitee.id)).scalar_one()
    assert membership.organisation_id == organisation.id and not membership.is_owner
    assert session.get(OrganisationInvitation, invitation.id).accepted_by_id == invitee.id
    session.rollback()
    assert audit_actions(session) == ["invite_member", "accept_invitation"]
    assert client.get(f"/espace/organisations/{siret}").status_code == 200
    # A used link cannot be used again.
    again = client.post(link)
    assert again.status_code == 410
    assert "déjà été utilisée" in text_of(again)


def test_a_wrong_user_cannot_accept_an_invitation(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner)
    applicant(session, "intruder@example.test")
    assert invite(logged_in(app, "owner@example.test"), organisation.siret, "invitee@example.test").status_code == 302
    link = invitation_link(outbox, "invitee@example.test")
    client = logged_in(app, "intruder@example.test")
    page = client.get(link)
    assert page.status_code == 403
    assert "adressée à invitee@example.test" in text_of(page)
    assert client.post(link).status_code == 403
    assert count(session, Membership) == 1
    assert session.execute(select(OrganisationInvitation.accepted_at)).scalar_one() is None


def test_an_expired_invitation_is_refused(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner)
    applicant(session, "invitee@example.test")
    invite(logged_in(app, "owner@example.test"), organisation.siret, "invitee@example.test")
    link = invitation_link(outbox, "invitee@example.test")
    invitation = session.execute(select(OrganisationInvitation)).scalar_one()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    client = logged_in(app, "invitee@example.test")
    response = client.post(link)
    assert response.status_code == 410
    assert "expiré" in text_of(response)
    assert count(session, Membership) == 1


def test_a_revoked_invitation_is_refused(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner)
    applicant(session, "invitee@example.test")
    owner_client = logged_in(app, "owner@example.test")
    invite(owner_client, organisation.siret, "invitee@example.test")
    link = invitation_link(outbox, "invitee@example.test")
    invitation_id = session.execute(select(OrganisationInvitation.id)).scalar_one()
    session.rollback()
    revoked = owner_client.post(f"/espace/organisations/{organisation.siret}/invitations/{invitation_id}/annuler")
    assert revoked.status_code == 302
    response = logged_in(app, "invitee@example.test").post(link)
    assert response.status_code == 410
    assert "annulée" in text_of(response)
    assert count(session, Membership) == 1
    assert "revoke_invitation" in audit_actions(session)


def test_an_unknown_invitation_link_is_404_and_anonymous_users_are_sent_to_login(app, session):
    applicant(session, "a@example.test")
    anonymous = app.test_client().get("/espace/invitations/abc")
    assert anonymous.status_code == 302 and path_of(anonymous) == "/connexion"
    assert "next=" in anonymous.headers["Location"]
    assert logged_in(app, "a@example.test").get("/espace/invitations/abc").status_code == 404


def test_a_non_owner_cannot_invite(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    client = logged_in(app, "member@example.test")
    assert invite(client, organisation.siret, "friend@example.test").status_code == 403
    page = text_of(client.get(f"/espace/organisations/{organisation.siret}/membres"))
    assert 'name="email"' not in page
    assert count(session, OrganisationInvitation) == 0
    assert len(outbox) == 0


def test_inviting_a_member_or_a_bad_address_is_refused(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    client = logged_in(app, "owner@example.test")
    already = invite(client, organisation.siret, "MEMBER@example.test")
    assert already.status_code == 422 and "déjà membre" in text_of(already)
    assert invite(client, organisation.siret, "pas-une-adresse").status_code == 422
    assert count(session, OrganisationInvitation) == 0
    assert len(outbox) == 0


def test_reinviting_replaces_the_pending_invitation(app, session, outbox):
    owner = applicant(session, "owner@example.test")
    organisation = owned_organisation(session, owner)
    applicant(session, "invitee@example.test")
    client = logged_in(app, "owner@example.test")
    invite(client, organisation.siret, "invitee@example.test")
    first = invitation_link(outbox, "invitee@example.test")
    invite(client, organisation.siret, "invitee@example.test")
    assert len(outbox) == 2
    second = re.search(r"(/espace/invitations/\S+)", outbox[1].get_content()).group(1)
    assert first != second
    invitee = logged_in(app, "invitee@example.test")
    assert invitee.post(first).status_code == 410
    assert invitee.post(second).status_code == 302


def test_a_user_in_two_organisations_sees_both(app, session):
    user = applicant(session, "both@example.test")
    other_owner = applicant(session, "other@example.test")
    first = owned_organisation(session, user, name="Première organisation")
    second = owned_organisation(session, other_owner, user, name="Seconde organisation")
    owned_organisation(session, other_owner, name="Organisation d'un autre")
    assert [o.name for o in ops.organisations_of(session, user)] == ["Première organisation", "Seconde organisation"]
    session.rollback()
    page = text_of(logged_in(app, "both@example.test").get("/espace/organisations"))
    assert "Première organisation" in page and "Seconde organisation" in page
    assert "Organisation d'un autre" not in page
    assert page.count("Responsable du compte") == 1 and "Membre" in page
    assert first.siret in page and second.siret in page


# --- members -------------------------------------------------------------------------------------


def test_owner_removes_a_member_but_not_the_last_owner(app, session):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    siret = organisation.siret
    memberships = {m.user_id: m.id for m in organisation.memberships}
    session.rollback()
    client = logged_in(app, "owner@example.test")
    last_owner = client.post(f"/espace/organisations/{siret}/membres/{memberships[owner.id]}/retirer")
    assert last_owner.status_code == 409
    assert "dernier responsable" in text_of(last_owner)
    member_client = logged_in(app, "member@example.test")
    assert member_client.post(f"/espace/organisations/{siret}/membres/{memberships[owner.id]}/retirer").status_code == 403
    assert client.post(f"/espace/organisations/{siret}/membres/{memberships[member.id]}/retirer").status_code == 302
    assert count(session, Membership) == 1
    assert member_client.get(f"/espace/organisations/{siret}").status_code == 404
    assert "remove_member" in audit_actions(session)


def test_owner_transfers_ownership_then_may_leave(app, session):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    siret = organisation.siret
    memberships = {m.user_id: m.id for m in organisation.memberships}
    session.rollback()
    client = logged_in(app, "owner@example.test")
    assert client.post(f"/espace/organisations/{siret}/membres/{memberships[member.id]}/responsable").status_code == 302
    owners = session.execute(select(Membership.user_id).where(Membership.is_owner.is_(True))).scalars().all()
    session.rollback()
    assert owners == [member.id]
    assert invite(client, siret, "x@example.test").status_code == 403  # no longer the owner
    assert client.post(f"/espace/organisations/{siret}/membres/{memberships[owner.id]}/retirer").status_code == 302
    assert count(session, Membership) == 1
    assert "transfer_ownership" in audit_actions(session)


# --- API -----------------------------------------------------------------------------------------


def test_api_registers_an_organisation_prefilled_from_the_registry(app, session, client):
    user = applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test")
    response = client.post("/api/v1/organisations", headers=headers,
                           json={"siret": KNOWN["siret"], "headcount": 8, "turnover_cents": 150_000_000,
                                 "balance_sheet_cents": 90_000_000})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["siret"] == KNOWN["siret"] and body["name"] == KNOWN["name"]
    assert body["city"] == KNOWN["city"] and body["department"] == KNOWN["department"]
    assert body["size_category"] == "micro" and body["is_owner"] is True
    assert body["size_basis"]["own"]["turnover_cents"] == 150_000_000
    assert response.headers["Location"].endswith(f"/api/v1/organisations/{KNOWN['siret']}")
    organisation = organisation_by_siret(session, KNOWN["siret"])
    assert organisation.memberships[0].user_id == user.id
    session.rollback()
    assert audit_actions(session) == ["register_organisation"]
    entry = session.execute(select(AuditEntry)).scalars().all()[-1]
    assert entry.after["prefilled_from_registry"] is True


def test_api_accepts_la_poste(app, session, client):
    applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test")
    response = client.post("/api/v1/organisations", headers=headers, json={"siret": LA_POSTE, "name": "La Poste"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["siren"] == "356000000"


def assert_validation_errors(response) -> dict[str, str]:
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["status"] == 422 and body["error"]["message"]
    assert body["errors"] and all(set(e) == {"key", "message"} for e in body["errors"])
    return {e["key"]: e["message"] for e in body["errors"]}


def test_api_refuses_an_invalid_siret_with_422_and_creates_nothing(app, session, client):
    applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test")
    errors = assert_validation_errors(client.post("/api/v1/organisations", headers=headers,
                                                  json={"siret": BAD_SIRET, "name": "X"}))
    assert set(errors) == {"siret"} and "SIRET" in errors["siret"]
    errors = assert_validation_errors(client.post("/api/v1/organisations", headers=headers, json={"name": "X"}))
    assert "siret" in errors
    assert count(session, Organisation) == 0
    assert audit_actions(session) == []


def test_api_reports_every_field_error_at_once(app, session, client):
    applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test")
    errors = assert_validation_errors(client.post("/api/v1/organisations", headers=headers, json={
        "siret": UNKNOWN_SIRET, "turnover_cents": 12.5, "headcount": -1, "department": "99", "turnover": 5}))
    assert set(errors) == {"name", "turnover_cents", "headcount", "department", "turnover"}
    assert count(session, Organisation) == 0


def test_api_refuses_a_duplicate_siret_and_a_non_object_body(app, session, client):
    owner = applicant(session, "owner@example.test")
    existing = owned_organisation(session, owner)
    applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test")
    errors = assert_validation_errors(client.post("/api/v1/organisations", headers=headers,
                                                  json={"siret": existing.siret, "name": "Copie"}))
    assert "déjà inscrite" in errors["siret"]
    assert "body" in assert_validation_errors(client.post("/api/v1/organisations", headers=headers, json=[1]))
    assert count(session, Organisation) == 1


def test_api_post_needs_the_write_scope(app, session, client):
    applicant(session, "api@example.test")
    headers = api_token(client, "api@example.test", scopes=("read",))
    response = client.post("/api/v1/organisations", headers=headers, json={"siret": UNKNOWN_SIRET, "name": "X"})
    assert response.status_code == 403
    assert count(session, Organisation) == 0


def test_api_lists_only_the_token_users_organisations(app, session, client):
    user = applicant(session, "api@example.test")
    other = applicant(session, "other@example.test")
    mine = owned_organisation(session, user, name="À moi")
    shared = owned_organisation(session, other, user, name="Partagée")
    theirs = owned_organisation(session, other, name="À eux")
    headers = api_token(client, "api@example.test")
    response = client.get("/api/v1/organisations", headers=headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert {(i["siret"], i["is_owner"]) for i in items} == {(mine.siret, True), (shared.siret, False)}
    assert client.get(f"/api/v1/organisations/{shared.siret}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/organisations/{theirs.siret}", headers=headers).status_code == 404
    assert client.get("/api/v1/organisations").status_code == 401


def test_openapi_document_describes_the_organisation_routes(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert {"get", "post"} <= set(document["paths"]["/organisations"])
    assert "ValidationErrors" in document["components"]["schemas"]


# --- accessibility -------------------------------------------------------------------------------


def test_organisation_pages_label_every_field_and_use_no_inline_script_or_style(app, session, outbox):
    from tests.test_pages import Tags

    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    client = logged_in(app, "owner@example.test")
    invite(client, organisation.siret, "invitee@example.test")
    pages = ["/espace/organisations", "/espace/organisations/nouvelle",
             f"/espace/organisations/nouvelle?siret={KNOWN['siret']}", f"/espace/organisations/nouvelle?siret={BAD_SIRET}",
             f"/espace/organisations/{organisation.siret}", f"/espace/organisations/{organisation.siret}/modifier",
             f"/espace/organisations/{organisation.siret}/membres"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        tags = Tags(page)
        fields = [a for a in tags.all("input") if a.get("type") != "hidden"] + tags.all("select")
        ids = [a.get("id") for a in fields]
        assert all(ids), path
        labelled = {a.get("for") for a in tags.all("label")}
        assert set(ids) <= labelled, f"{path}: unlabelled {set(ids) - labelled}"
        every_id = [a["id"] for _t, a in tags.tags if a.get("id")]
        assert len(every_id) == len(set(every_id)), f"{path}: duplicate ids"
        assert not any("style" in a for _t, a in tags.tags), path
        assert not any(t == "script" and not a.get("src") for t, a in tags.tags), path
        assert len(tags.all("h1")) == 1, path
    # The registration step 2 holds every legal field.
    step2 = Tags(client.get(f"/espace/organisations/nouvelle?siret={UNKNOWN_SIRET}").get_data(as_text=True))
    names = {a.get("name") for a in step2.all("input") + step2.all("select")}
    assert {"siret", *ops.LEGAL_FIELDS} <= names


def test_the_single_owner_is_not_offered_to_leave(app, session):
    owner = applicant(session, "owner@example.test")
    member = applicant(session, "member@example.test")
    organisation = owned_organisation(session, owner, member)
    owner_page = text_of(logged_in(app, "owner@example.test").get(f"/espace/organisations/{organisation.siret}/membres"))
    assert "Quitter l'organisation" not in owner_page and "Retirer Test User" in owner_page
    member_page = text_of(logged_in(app, "member@example.test").get(f"/espace/organisations/{organisation.siret}/membres"))
    assert "Quitter l'organisation" in member_page and "Retirer" not in member_page


# --- pluggable registry --------------------------------------------------------------------------


class _DownRegistry:
    def lookup(self, siret: str):
        from app.registry import RegistryUnavailable

        raise RegistryUnavailable("network down")


def down_registry(app):
    """A ``COMPANY_REGISTRY=tests.test_organisations:down_registry`` factory."""
    return _DownRegistry()


def test_a_plugged_in_registry_that_cannot_answer_falls_back_to_manual_entry(app, session):
    applicant(session, "a@example.test")
    client = logged_in(app, "a@example.test")
    app.config["COMPANY_REGISTRY"] = "tests.test_organisations:down_registry"
    try:
        assert isinstance(get_registry(app), _DownRegistry)
        page = text_of(client.get("/espace/organisations/nouvelle", query_string={"siret": KNOWN["siret"]}))
        assert "n'a pas été trouvé dans le répertoire" in page
        assert f'value="{KNOWN["name"]}"' not in page
    finally:
        app.config["COMPANY_REGISTRY"] = "offline"
    assert isinstance(get_registry(app), OfflineRegistry)


@pytest.mark.parametrize("value", ["sirene", "http://example.test/api", "module:"])
def test_a_malformed_registry_setting_stops_the_start(value):
    from config import ConfigError, load_config

    with pytest.raises(ConfigError, match="COMPANY_REGISTRY"):
        load_config({"GUICHET_ENV": "testing", "COMPANY_REGISTRY": value})
    assert load_config({"GUICHET_ENV": "testing", "COMPANY_REGISTRY": "pkg.mod:factory"})["COMPANY_REGISTRY"] == "pkg.mod:factory"


def test_api_staff_without_the_applicant_role_cannot_register(app, session, client):
    make_user(session, "instructor", email="staff@example.test")
    session.commit()
    headers = api_token(client, "staff@example.test")
    response = client.post("/api/v1/organisations", headers=headers, json={"siret": UNKNOWN_SIRET, "name": "X"})
    assert response.status_code == 403
    assert count(session, Organisation) == 0
