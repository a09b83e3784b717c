"""Forms per call and drafts: publishing a form version, saving a draft's
answers. Creating the draft itself is ``app.operations.applications.create_draft``.

Operations flush, never commit, and audit every change in the same transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, callforms
from app.callforms import DefinitionError, FieldError, FormDefinition
from app.errors import UserFacingError
from app.formatting import translate as _
from app.models import Application, Call, FormVersion, Membership, Organisation, User, utcnow
from app.operations import attachments
from app.references import next_reference
from app.workflow_versions import current_version

SOURCES = ("form", "api")


class AnswersInvalid(UserFacingError):
    """Answers refused; nothing was saved. ``errors`` lists each field's problem,
    ``unknown`` the keys the form does not have."""

    status = 422

    def __init__(self, errors: list[FieldError], unknown: list[str] | None = None) -> None:
        self.errors = errors
        self.unknown = unknown or []
        if self.unknown:
            message = _("Champs inconnus dans ce formulaire : %(keys)s.", keys=", ".join(self.unknown))
        elif len(errors) == 1:
            message = _("Le brouillon n'a pas été enregistré : 1 erreur à corriger.")
        else:
            message = _("Le brouillon n'a pas été enregistré : %(n)s erreurs à corriger.", n=len(errors))
        super().__init__(message)


# --- form versions ----------------------------------------------------------------------------------


def current_form(session: Session, call: Call) -> FormVersion | None:
    return session.execute(
        select(FormVersion).where(FormVersion.call_id == call.id).order_by(FormVersion.number.desc()).limit(1)
    ).scalar_one_or_none()


def form_version(session: Session, call: Call, number: int) -> FormVersion | None:
    return session.execute(
        select(FormVersion).where(FormVersion.call_id == call.id, FormVersion.number == number)
    ).scalar_one_or_none()


def definition_of(version: FormVersion) -> FormDefinition:
    """The stored definition, rebuilt (cached by content)."""
    return callforms.load_definition(version.definition)


def publish_form(session: Session, call: Call, definition: dict, actor: User | None, *, role: str = "admin") -> FormVersion:
    """Publish ``definition`` as the call's next form version — only when its
    content changed; otherwise the current version is returned unchanged.
    Raises ``callforms.DefinitionError`` (every problem listed) when invalid.
    Files already created keep the version they answer."""
    defn = callforms.load_definition(definition)
    # One publisher at a time per call (row lock on PostgreSQL; SQLite
    # serialises writers with BEGIN IMMEDIATE).
    session.execute(select(Call.id).where(Call.id == call.id).with_for_update())
    current = current_form(session, call)
    if current is not None and current.hash == defn.hash:
        return current
    version = FormVersion(call_id=call.id, number=(current.number + 1) if current else 1,
                          definition=json.loads(callforms.canonical_json(definition)), hash=defn.hash,
                          created_by_id=actor.id if actor is not None else None)
    session.add(version)
    session.flush()
    session.expire(call, ["form_versions"])
    audit.record(session, actor=actor, role=role if actor is not None else "system", object_type="call",
                 object_id=call.reference, action="publish_form",
                 before={"form_version": current.number, "hash": current.hash} if current else None,
                 after={"form_version": version.number, "hash": version.hash, "fields": len(defn.fields)})
    return version


def publish_form_yaml(session: Session, call: Call, text: str, actor: User | None) -> FormVersion:
    """``publish_form`` from YAML pasted by an administrator."""
    return publish_form(session, call, callforms.parse_yaml(text), actor)


# --- drafts -----------------------------------------------------------------------------------------


def create_draft(session: Session, *, call: Call, organisation: Organisation, author: User, title: str,
                 requested_amount_cents: int = 0) -> Application:
    """A new draft of ``organisation`` on the open ``call``, answering the call's
    current form version (kept by the file whatever is published later) and
    running on the current workflow version. ``author`` must act for the
    organisation; the call must be open and have a published form."""
    now = utcnow()
    if not call.is_open(now):
        raise UserFacingError(_("Cet appel n'est pas ouvert aux candidatures."), status=422)
    member = session.execute(
        select(Membership.id).where(Membership.user_id == author.id, Membership.organisation_id == organisation.id)
    ).first()
    if member is None:
        raise UserFacingError(_("Vous n'agissez pas pour cette organisation."), status=403)
    title = (title or "").strip() or _("Nouveau dossier")
    if len(title) > 255:
        raise UserFacingError(_("Le titre compte 255 caractères au plus."), status=422)
    if requested_amount_cents < 0:
        raise UserFacingError(_("Le montant demandé ne peut pas être négatif."))
    if call.max_aid_cents is not None and requested_amount_cents > call.max_aid_cents:
        raise UserFacingError(_("Le montant demandé dépasse le plafond de l'appel."))
    form = current_form(session, call)
    if form is None:
        raise UserFacingError(_("Le formulaire de cet appel n'est pas encore publié : revenez plus tard."), status=422)
    application = Application(
        reference=next_reference(session, call.file_prefix, now.year),
        call=call,
        organisation=organisation,
        created_by=author,
        title=title,
        state="draft",
        requested_amount_cents=requested_amount_cents,
        workflow_version=current_version(session, call.workflow_name),
        form_version_id=form.id,
        answers={},
    )
    session.add(application)
    session.flush()
    audit.record(session, actor=author, role="applicant", object_type="application", object_id=application.reference,
                 action="create_draft", after={"state": "draft", "call": call.reference, "title": application.title,
                                               "form_version": form.number})
    return application


def present_file_keys(session: Session, application: Application) -> set[str]:
    """The form's file fields that have an attachment (an infected one does not count)."""
    return set(attachments.present_file_keys(session, application))


def application_definition(application: Application) -> FormDefinition | None:
    return definition_of(application.form_version) if application.form_version is not None else None


def ensure_editable(application: Application) -> None:
    """A draft can be edited while it is a draft and its call is open."""
    if application.state != "draft":
        raise UserFacingError(_("Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici."), status=409)
    if not application.call.is_open(utcnow()):
        raise UserFacingError(_("L'appel est clos : ce brouillon ne peut plus être modifié."), status=409)


def save_answers(session: Session, application: Application, raw, author: User, source: str, *,
                 keys: list[str] | None = None) -> list[str]:
    """Save a draft's answers from a form post (``source="form"``: French
    formats, ``keys`` the fields of the page) or the API (``"api"``: JSON types,
    only the keys sent). Validation is partial (formats, the call's aid
    ceiling); answers of fields hidden by their condition are dropped; the
    requested amount and the title follow their ``maps_to`` fields. Returns
    the keys whose answer changed; raises ``AnswersInvalid`` (nothing saved)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    ensure_editable(application)
    defn = application_definition(application)
    if defn is None:
        raise UserFacingError(_("Ce dossier n'a pas de formulaire à remplir."), status=409)
    if source == "api":
        if not isinstance(raw, dict):
            raise UserFacingError(_("« answers » doit être un objet {clé: valeur}."), status=422)
        unknown = callforms.unknown_keys(defn, raw)
        if unknown:
            raise AnswersInvalid([FieldError(k, _("Ce champ n'existe pas dans le formulaire.")) for k in unknown], unknown)
    cleaned, errors = callforms.clean_answers(defn, raw, source=source, keys=keys)
    if errors:
        raise AnswersInvalid(errors)
    stored = dict(application.answers or {})
    answers = callforms.merge_answers(defn, stored, cleaned)
    errors = callforms.validate_answers(defn, answers, partial=True, max_aid_cents=application.call.max_aid_cents)
    if errors:
        raise AnswersInvalid(errors)
    changed = sorted(k for k in set(stored) | set(answers) if stored.get(k) != answers.get(k))
    if not changed:
        return []
    application.answers = answers
    if defn.requested_field is not None:
        application.requested_amount_cents = callforms.requested_amount(defn, answers) or 0
    title = callforms.mapped_title(defn, answers)
    if title:
        application.title = title[:255]
    session.flush()
    # The keys only: the values may be personal data.
    audit.record(session, actor=author, role="applicant", object_type="application", object_id=application.reference,
                 action="save_answers", after={"keys": changed, "source": source})
    return changed


def submission_errors(session: Session, application: Application) -> list[FieldError]:
    """Everything that stops the draft from being submitted (full validation,
    the call's aid ceiling included)."""
    defn = application_definition(application)
    if defn is None:
        return []
    return callforms.validate_answers(defn, application.answers or {}, present_files=present_file_keys(session, application),
                                      partial=False, max_aid_cents=application.call.max_aid_cents)


__all__ = [
    "AnswersInvalid",
    "create_draft",
    "DefinitionError",
    "application_definition",
    "current_form",
    "definition_of",
    "ensure_editable",
    "form_version",
    "present_file_keys",
    "publish_form",
    "publish_form_yaml",
    "save_answers",
    "submission_errors",
]
