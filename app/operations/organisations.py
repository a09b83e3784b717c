"""Organisations: registration by SIRET, legal data, size category, members
and invitations.

Every function flushes and writes its audit row; the caller commits once.
Field errors are raised together as ``OrganisationErrors`` (status 422), a
mapping of field name to French message, shown next to the fields on the
pages and returned as ``{"errors": [{"key", "message"}]}`` by the API.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any, Mapping

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import local_date
from app.formatting import translate as _
from app.mail import queue_mail
from app.models import GRAND_EST_DEPARTMENTS, Membership, Organisation, OrganisationInvitation, User, utcnow
from app.models.organisation import InvalidIdentifier, clean_siret
from app.operations.accounts import normalise_email
from app.registry import CompanyRecord, CompanyRegistry, RegistryUnavailable, get_registry
from app.sme import size_category

INVITATION_DAYS = 14
OTHER_DEPARTMENT = "other"
# Fields of the legal data, in display order; SIRET and SIREN are set once at registration.
TEXT_FIELDS = {"name": 255, "legal_form": 100, "address": 255, "city": 100}
COUNT_FIELDS = ("headcount", "group_headcount")
MONEY_FIELDS = ("turnover_cents", "balance_sheet_cents", "group_turnover_cents", "group_balance_sheet_cents")
LEGAL_FIELDS = ("name", "legal_form", "headcount", "turnover_cents", "balance_sheet_cents", "group_headcount",
                "group_turnover_cents", "group_balance_sheet_cents", "department", "naf_code", "address",
                "postal_code", "city")
SIZE_FIELDS = ("headcount", "turnover_cents", "balance_sheet_cents", "group_headcount", "group_turnover_cents",
               "group_balance_sheet_cents")
REGISTRY_FIELDS = ("name", "legal_form", "naf_code", "address", "postal_code", "city", "department")
# 10 000 billion euros: far above any real figure, far below BIGINT.
MAX_CENTS = 10**15
MAX_HEADCOUNT = 10_000_000
FRENCH_DEPARTMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "971", "972", "973", "974", "975", "976"]
)
NAF_RE = re.compile(r"^(\d{2})\.?(\d{2})([A-Z])$")
POSTAL_CODE_RE = re.compile(r"^\d{5}$")


class OrganisationErrors(UserFacingError):
    """One or more fields refused; ``errors`` maps each field to its message."""

    status = 422

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(next(iter(self.errors.values())) if len(self.errors) == 1
                         else _("Les données envoyées ne sont pas valides."))


# --- reading ---------------------------------------------------------------------------------------


def organisations_of(session: Session, user: User) -> list[Organisation]:
    """The organisations ``user`` belongs to (as owner or member), by name."""
    return list(
        session.execute(
            select(Organisation).join(Membership).where(Membership.user_id == user.id).order_by(Organisation.name, Organisation.id)
        ).scalars()
    )


def membership_of(session: Session, user: User, organisation: Organisation) -> Membership | None:
    return session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.organisation_id == organisation.id)
    ).scalar_one_or_none()


def find_by_siret(session: Session, siret: str) -> Organisation | None:
    return session.execute(select(Organisation).where(Organisation.siret == "".join(siret.split()))).scalar_one_or_none()


def pending_invitations(session: Session, organisation: Organisation) -> list[OrganisationInvitation]:
    now = utcnow()
    return list(
        session.execute(
            select(OrganisationInvitation)
            .where(OrganisationInvitation.organisation_id == organisation.id,
                   OrganisationInvitation.accepted_at.is_(None), OrganisationInvitation.revoked_at.is_(None),
                   OrganisationInvitation.expires_at > now)
            .order_by(OrganisationInvitation.created_at)
        ).scalars()
    )


def find_invitation(session: Session, token: str) -> OrganisationInvitation | None:
    return session.execute(
        select(OrganisationInvitation).where(OrganisationInvitation.token_hash == hash_token(token))
    ).scalar_one_or_none()


def snapshot(organisation: Organisation) -> dict[str, Any]:
    """The legal data and size, as audited (before/after)."""
    data = {name: getattr(organisation, name) for name in LEGAL_FIELDS}
    data["size_category"] = organisation.size_category
    return data


# --- validation ------------------------------------------------------------------------------------


def validate_siret(value: Any) -> str:
    """The SIRET, compacted and checked by python-stdnum (La Poste's rule
    included), or ``OrganisationErrors`` on ``siret``."""
    if not isinstance(value, str) or not value.strip():
        raise OrganisationErrors({"siret": _("Indiquez le numéro SIRET (14 chiffres).")})
    try:
        return clean_siret(value)
    except InvalidIdentifier:
        raise OrganisationErrors(
            {"siret": _("Ce numéro SIRET n'est pas valide : vérifiez les 14 chiffres (clé de contrôle incorrecte).")}
        ) from None


def department_from_postal_code(postal_code: str) -> str | None:
    """The department of a French postal code (Corsica and overseas included)."""
    if not POSTAL_CODE_RE.match(postal_code):
        return None
    if postal_code.startswith("20"):
        return "2A" if int(postal_code) < 20200 else "2B"
    if postal_code[:2] in ("97", "98"):
        return postal_code[:3] if postal_code[:3] in FRENCH_DEPARTMENTS else None
    return postal_code[:2] if postal_code[:2] in FRENCH_DEPARTMENTS else None


def clean_legal_data(data: Mapping[str, Any], current: Organisation | None = None) -> dict[str, Any]:
    """Check and normalise the legal fields present in ``data``; every error at once.

    Text fields: stripped strings, empty means None. Counts and amounts:
    integers ≥ 0 (amounts in cents). ``department``: a French department code,
    or ``"other"`` (outside Grand Est), then taken from the postal code (the
    one in ``data``, else ``current``'s)."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key not in LEGAL_FIELDS:
            errors[key] = _("Champ inconnu.")
            continue
        if isinstance(value, str):
            value = value.strip() or None
        if key in TEXT_FIELDS or key in ("department", "naf_code", "postal_code"):
            if value is not None and not isinstance(value, str):
                errors[key] = _("Ce champ doit être du texte.")
                continue
            if key in TEXT_FIELDS and value is not None and len(value) > TEXT_FIELDS[key]:
                errors[key] = _("%(n)s caractères au maximum.", n=TEXT_FIELDS[key])
                continue
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors[key] = (_("Indiquez un nombre entier de centimes.") if key in MONEY_FIELDS
                           else _("Indiquez un nombre entier de personnes."))
            continue
        elif value is not None and value < 0:
            errors[key] = _("La valeur ne peut pas être négative.")
            continue
        elif value is not None and value > (MAX_CENTS if key in MONEY_FIELDS else MAX_HEADCOUNT):
            errors[key] = _("Cette valeur est trop élevée.")
            continue
        if key == "naf_code" and value is not None:
            match = NAF_RE.match(value.upper())
            if match is None:
                errors[key] = _("Le code NAF s'écrit avec 4 chiffres et une lettre, par exemple 62.01Z.")
                continue
            value = "".join(match.groups())
        if key == "postal_code" and value is not None and not POSTAL_CODE_RE.match(value):
            errors[key] = _("Le code postal s'écrit avec 5 chiffres.")
            continue
        clean[key] = value
    if "name" in clean and clean["name"] is None:
        errors["name"] = _("Indiquez la raison sociale.")
    department = clean.get("department")
    if department is not None:
        department = department.upper() if department.lower() != OTHER_DEPARTMENT else OTHER_DEPARTMENT
        if department == OTHER_DEPARTMENT:
            postal_code = clean["postal_code"] if "postal_code" in clean else getattr(current, "postal_code", None)
            derived = department_from_postal_code(postal_code) if postal_code else None
            if postal_code is None and "postal_code" not in errors:
                errors["postal_code"] = _("Indiquez le code postal de l'établissement situé hors Grand Est.")
            elif postal_code is not None and derived is None:
                errors["postal_code"] = _("Ce code postal ne correspond à aucun département français.")
            elif derived in GRAND_EST_DEPARTMENTS:
                errors["department"] = _("Ce code postal est dans le département %(d)s (Grand Est) : choisissez-le dans la liste.", d=derived)
            else:
                clean["department"] = derived
        elif department in FRENCH_DEPARTMENTS:
            clean["department"] = department
        else:
            errors["department"] = _("Département inconnu.")
    if errors:
        raise OrganisationErrors(errors)
    return clean


# --- size ------------------------------------------------------------------------------------------


def compute_size(organisation: Organisation) -> None:
    """Derive the EU size category and keep the figures that produced it."""
    category, basis = size_category(*(getattr(organisation, name) for name in SIZE_FIELDS))
    organisation.size_category = category
    organisation.size_basis = basis
    organisation.size_computed_at = utcnow()


# --- registry --------------------------------------------------------------------------------------


def lookup_company(siret: str, registry: CompanyRegistry | None = None) -> CompanyRecord | None:
    """The registry's record for ``siret`` (already validated), None when unknown
    or when the registry cannot answer."""
    registry = registry or get_registry(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        return registry.lookup(siret)
    except RegistryUnavailable:
        current_app.logger.warning("company registry unavailable for %s", siret)
        return None


def prefill(data: Mapping[str, Any], record: CompanyRecord | None) -> dict[str, Any]:
    """``data`` completed with the registry's values for the keys it lacks (a key
    present, even empty, is the user's choice and is kept)."""
    merged = dict(data)
    if record is not None:
        for key in REGISTRY_FIELDS:
            if key not in merged and getattr(record, key) is not None:
                merged[key] = getattr(record, key)
    return merged


# --- registration and edition ----------------------------------------------------------------------


def _duplicate_error() -> OrganisationErrors:
    return OrganisationErrors({"siret": _(
        "Cette organisation est déjà inscrite sur Guichet : demandez à son responsable de compte de vous inviter."
    )})


def register_organisation(session: Session, user: User, siret: Any, data: Mapping[str, Any], *,
                          registry: CompanyRegistry | None = None) -> Organisation:
    """Register the organisation ``siret`` with ``user`` as its owner.

    The SIRET is checked by python-stdnum (La Poste included) and must not be
    registered yet; the keys missing from ``data`` are prefilled from the
    company registry; the size category is computed."""
    if not user.has_role("applicant"):
        raise UserFacingError(_("Seul un porteur de projet peut inscrire une organisation."), status=403)
    errors: dict[str, str] = {}
    try:
        siret = validate_siret(siret)
    except OrganisationErrors as exc:
        errors.update(exc.errors)
        siret = None
    if siret is not None and find_by_siret(session, siret) is not None:
        errors.update(_duplicate_error().errors)
    record = lookup_company(siret, registry) if siret is not None else None
    merged = prefill(data, record)
    merged.setdefault("name", None)
    try:
        clean = clean_legal_data(merged)
    except OrganisationErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise OrganisationErrors(errors)

    organisation = Organisation(siret=siret, siren=siret[:9], **clean)
    compute_size(organisation)
    try:
        with session.begin_nested():  # a concurrent registration of the same SIRET
            session.add(organisation)
            session.flush()
    except IntegrityError:
        raise _duplicate_error() from None
    session.add(Membership(user=user, organisation=organisation, is_owner=True))
    session.flush()
    audit.record(session, actor=user, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="register_organisation",
                 after={"siret": siret, **snapshot(organisation), "size_basis": organisation.size_basis,
                        "prefilled_from_registry": record is not None})
    return organisation


def update_organisation(session: Session, user: User, organisation: Organisation, data: Mapping[str, Any]) -> bool:
    """Change the legal data present in ``data`` (any member may); recompute the
    size when a figure changed. Returns whether anything changed."""
    _require_member(session, user, organisation)
    clean = clean_legal_data(data, organisation)
    before = snapshot(organisation)
    changed = {key: value for key, value in clean.items() if getattr(organisation, key) != value}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(organisation, key, value)
    if any(key in SIZE_FIELDS for key in changed):
        compute_size(organisation)
    after = snapshot(organisation)
    audit.record(session, actor=user, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="update_organisation",
                 before={k: before[k] for k in after if before[k] != after[k]},
                 after={k: after[k] for k in after if before[k] != after[k]})
    return True


# --- members and invitations -----------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_member(session: Session, user: User, organisation: Organisation) -> Membership:
    membership = membership_of(session, user, organisation)
    if membership is None:
        raise UserFacingError(_("Organisation introuvable."), status=404)
    return membership


def _require_owner(session: Session, user: User, organisation: Organisation) -> Membership:
    membership = _require_member(session, user, organisation)
    if not membership.is_owner:
        raise UserFacingError(_("Seul le responsable du compte de l'organisation peut gérer ses membres."), status=403)
    return membership


def invite_member(session: Session, inviter: User, organisation: Organisation, email: str) -> tuple[OrganisationInvitation, str]:
    """Invite ``email`` to act for ``organisation`` (owner only) and mail the link.

    A pending invitation to the same address is replaced. Returns the
    invitation and the clear token (stored only as its SHA-256)."""
    _require_owner(session, inviter, organisation)
    try:
        email = normalise_email(validate_email(email or "", check_deliverability=False,
                                               test_environment=current_app.config["GUICHET_ENV"] != "production").normalized)
    except EmailNotValidError:
        raise OrganisationErrors({"email": _("Saisissez une adresse e-mail valide, par exemple nom@entreprise.fr.")}) from None
    already = session.execute(
        select(Membership).join(User).where(Membership.organisation_id == organisation.id, User.email == email)
    ).scalar_one_or_none()
    if already is not None:
        raise OrganisationErrors({"email": _("Cette personne est déjà membre de l'organisation.")})
    now = utcnow()
    replaced = [i.id for i in pending_invitations(session, organisation) if i.email == email]
    if replaced:
        session.execute(update(OrganisationInvitation).where(OrganisationInvitation.id.in_(replaced))
                        .values(revoked_at=now))
    token = secrets.token_urlsafe(32)
    invitation = OrganisationInvitation(organisation=organisation, email=email, token_hash=hash_token(token),
                                        invited_by_id=inviter.id, created_at=now,
                                        expires_at=now + timedelta(days=INVITATION_DAYS))
    session.add(invitation)
    session.flush()
    audit.record(session, actor=inviter, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="invite_member",
                 after={"invitation": invitation.id, "email": email, "expires_at": invitation.expires_at.isoformat(),
                        "replaces": replaced})
    link = url_for("applicant.invitation", token=token, _external=True)
    queue_mail(
        email,
        _("Invitation à rejoindre %(org)s sur Guichet", org=organisation.name),
        _(
            "Bonjour,\n\n%(inviter)s vous invite à agir pour %(org)s (SIRET %(siret)s) sur Guichet, le service des aides "
            "de la Région Grand Est.\n\nPour accepter, ouvrez ce lien avant le %(date)s :\n%(link)s\n\n"
            "Connectez-vous avec l'adresse %(email)s. Si vous n'avez pas encore de compte, créez-le avec cette adresse, "
            "puis ouvrez de nouveau ce lien.\n\nSi vous ne connaissez pas cette organisation, ignorez ce message.\n",
            inviter=inviter.name, org=organisation.name, siret=organisation.siret,
            date=local_date(invitation.expires_at), link=link, email=email,
        ),
    )
    return invitation, token


def invitation_problem(invitation: OrganisationInvitation | None, user: User | None = None) -> tuple[str, int] | None:
    """Why ``invitation`` cannot be accepted (by ``user``), as (message, status), or None."""
    if invitation is None:
        return _("Cette invitation n'existe pas : vérifiez le lien reçu par courriel."), 404
    if invitation.accepted_at is not None:
        return _("Cette invitation a déjà été utilisée."), 410
    if invitation.revoked_at is not None:
        return _("Cette invitation a été annulée par le responsable du compte de l'organisation."), 410
    if invitation.expires_at <= utcnow():
        return _("Cette invitation a expiré : demandez au responsable du compte de l'organisation de vous en envoyer une nouvelle."), 410
    if user is not None and normalise_email(user.email) != normalise_email(invitation.email):
        return _("Cette invitation est adressée à %(email)s : connectez-vous avec ce compte pour l'accepter.",
                 email=invitation.email), 403
    if user is not None and not user.has_role("applicant"):
        return _("Une invitation s'accepte avec un compte de porteur de projet."), 403
    return None


def accept_invitation(session: Session, token: str, user: User) -> Membership:
    """``user`` (whose e-mail must be the invited one) joins the organisation."""
    invitation = find_invitation(session, token)
    problem = invitation_problem(invitation, user)
    if problem is not None:
        raise UserFacingError(*problem)
    assert invitation is not None
    now = utcnow()
    # Conditional update: of two concurrent acceptances, only one passes.
    result = session.execute(
        update(OrganisationInvitation)
        .where(OrganisationInvitation.id == invitation.id, OrganisationInvitation.accepted_at.is_(None),
               OrganisationInvitation.revoked_at.is_(None))
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        raise UserFacingError(_("Cette invitation a déjà été utilisée."), status=410)
    organisation = invitation.organisation
    membership = membership_of(session, user, organisation)
    if membership is None:
        membership = Membership(user=user, organisation=organisation, is_owner=False)
        session.add(membership)
        session.flush()
    audit.record(session, actor=user, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="accept_invitation", after={"invitation": invitation.id, "user": user.id, "email": user.email})
    return membership


def revoke_invitation(session: Session, actor: User, invitation: OrganisationInvitation) -> None:
    _require_owner(session, actor, invitation.organisation)
    if invitation.accepted_at is not None:
        raise UserFacingError(_("Cette invitation a déjà été acceptée."), status=409)
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = utcnow()
    audit.record(session, actor=actor, role="applicant", object_type="organisation", object_id=invitation.organisation_id,
                 action="revoke_invitation", after={"invitation": invitation.id, "email": invitation.email})


def _locked_owner_count(session: Session, organisation: Organisation) -> int:
    # Lock the organisation's memberships (PostgreSQL; SQLite already serialises
    # writers) so two owners cannot remove each other at the same time.
    session.execute(select(Membership.id).where(Membership.organisation_id == organisation.id).with_for_update()).all()
    return session.execute(
        select(func.count(Membership.id)).where(Membership.organisation_id == organisation.id, Membership.is_owner.is_(True))
    ).scalar_one()


def remove_member(session: Session, actor: User, membership: Membership) -> None:
    """The owner removes a member, or a member leaves; the last owner stays."""
    organisation = membership.organisation
    if membership.user_id != actor.id:
        _require_owner(session, actor, organisation)
    if membership.is_owner and _locked_owner_count(session, organisation) <= 1:
        raise UserFacingError(_("Le dernier responsable du compte ne peut pas être retiré : transmettez d'abord "
                                "cette responsabilité à un autre membre."), status=409)
    removed = {"user": membership.user_id, "email": membership.user.email, "was_owner": membership.is_owner}
    session.delete(membership)
    session.flush()
    audit.record(session, actor=actor, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="remove_member", before=removed)


def transfer_ownership(session: Session, actor: User, membership: Membership) -> None:
    """The owner hands the ownership to another member and becomes a member."""
    organisation = membership.organisation
    own = _require_owner(session, actor, organisation)
    if membership.id == own.id:
        return
    _locked_owner_count(session, organisation)
    membership.is_owner = True
    own.is_owner = False
    session.flush()
    audit.record(session, actor=actor, role="applicant", object_type="organisation", object_id=organisation.id,
                 action="transfer_ownership", before={"owner": actor.id}, after={"owner": membership.user_id})


__all__ = [
    "INVITATION_DAYS",
    "OrganisationErrors",
    "accept_invitation",
    "clean_legal_data",
    "compute_size",
    "find_by_siret",
    "find_invitation",
    "invitation_problem",
    "invite_member",
    "lookup_company",
    "membership_of",
    "organisations_of",
    "pending_invitations",
    "prefill",
    "register_organisation",
    "remove_member",
    "revoke_invitation",
    "transfer_ownership",
    "update_organisation",
    "validate_siret",
]
