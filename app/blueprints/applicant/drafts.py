"""Drafts in the applicant's space: starting a file on a call, filling the
call's form section by section (rows added and removed without JavaScript),
the completeness of each section, the budget, and autosave.

Routes (prefix /espace):
  GET/POST /deposer                                   applicant.new_draft   (?appel=<call reference>)
  GET      /dossiers/<ref>/brouillon                  applicant.draft       (overview)
  GET/POST /dossiers/<ref>/brouillon/<section>        applicant.draft_section
  POST     /dossiers/<ref>/brouillon/<section>/auto   applicant.draft_autosave (JSON; X-CSRFToken header)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict

from app import callforms
from app.access import role_required, visible_applications
from app.blueprints.applicant import bp
from app.callforms import FieldError, FormDefinition, Section
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import PARIS
from app.formatting import translate as _
from app.forms.drafts import NewDraftForm
from app.models import Application, Call, utcnow
from app.operations import drafts
from app.operations.attachments import attachments_by_key
from app.operations.organisations import organisations_of


@bp.record_once
def _configure_callforms(state) -> None:
    # Messages of app.callforms in the user's language; .test addresses
    # accepted outside production (demo and test accounts).
    callforms.set_translator(_)
    callforms.configure(email_test_environment=state.app.config["GUICHET_ENV"] != "production")


# --- loading ----------------------------------------------------------------------------------------


def member_application(reference: str) -> Application:
    """The file, if it belongs to one of the user's organisations; 404 otherwise."""
    application = db.session.execute(
        visible_applications(current_user).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation), joinedload(Application.form_version))
    ).scalar_one_or_none()
    if application is None or not any(m.organisation_id == application.organisation_id for m in current_user.memberships):
        abort(404)
    return application


def editable_draft(reference: str) -> tuple[Application, FormDefinition]:
    application = member_application(reference)
    defn = drafts.application_definition(application)
    if defn is None:
        abort(404)
    return application, defn


def _not_editable_redirect(application: Application, message: str):
    flash(message, "error")
    return redirect(url_for("applicant.application_detail", reference=application.reference))


def _section_or_404(defn: FormDefinition, key: str) -> Section:
    section = defn.section(key)
    if section is None:
        abort(404)
    return section


def _next_section(defn: FormDefinition, section: Section) -> Section | None:
    keys = [s.key for s in defn.sections]
    index = keys.index(section.key)
    return defn.sections[index + 1] if index + 1 < len(keys) else None


def _answer_keys(defn: FormDefinition, section: Section, raw: Any) -> list[str]:
    """The section's fields the page posted (each rendered field posts a
    ``_fields`` marker, so an emptied checkbox group or table is cleared)."""
    own = {f.key for f in section.fields if f.type != "file"}
    return [k for k in callforms.form_keys(defn, raw) if k in own]


def _errors_by_anchor(errors: list[FieldError]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for e in errors:
        result.setdefault(e.anchor, []).append(e.message)
    return result


def _summary_errors(defn: FormDefinition, errors: list[FieldError]) -> list[dict[str, str]]:
    """The error summary: each message with the label it belongs to and its anchor."""
    items = []
    for e in errors:
        f = defn.field(e.key)
        label = f.label if f is not None else e.key
        anchor = e.anchor
        if f is not None and f.type == "file":
            anchor = f"champ-{f.key}"  # the attachments macro's fieldset
        if f is not None and e.column is not None and e.row is not None:
            column = f.column(e.column)
            label = _("%(rows)s, ligne %(n)s, %(column)s", rows=f.label, n=e.row + 1,
                      column=column.label if column is not None else e.column)
        items.append({"anchor": anchor, "label": label, "message": e.message,
                      "section": f.section if f is not None else defn.sections[0].key})
    return items


def _page_context(application: Application, defn: FormDefinition, answers: dict[str, Any]) -> dict[str, Any]:
    present = drafts.present_file_keys(db.session, application)
    return {
        "application": application,
        "defn": defn,
        "progress": callforms.completeness(defn, answers, present),
        "budget": callforms.budget_summary(defn, answers) if defn.has_budget else None,
        "max_aid_cents": application.call.max_aid_cents,
    }


def _progress_label(p: callforms.SectionProgress) -> str:
    """The text of macros/callform.html's progress_nav, for autosave's live update."""
    text = (_("%(answered)s sur %(total)s champs obligatoires remplis", answered=p.answered, total=p.total) if p.total
            else _("Aucun champ obligatoire"))
    return text + (" — " + _("section complète") if p.complete else "")


# --- starting a draft --------------------------------------------------------------------------------


def _open_calls_with_form() -> list[Call]:
    now = utcnow()
    calls = db.session.execute(
        select(Call).where(Call.status == "published", Call.opens_at <= now, Call.closes_at > now).order_by(Call.closes_at)
    ).scalars().all()
    return [c for c in calls if drafts.current_form(db.session, c) is not None]


@bp.route("/deposer", methods=["GET", "POST"])
@role_required("applicant")
def new_draft():
    organisations = organisations_of(db.session, current_user)
    calls = _open_calls_with_form()
    form = NewDraftForm()
    form.call.choices = [("", _("— Choisir un appel —"))] + [(c.reference, c.title) for c in calls]
    form.organisation.choices = [(o.siret, f"{o.name} — SIRET {o.siret}") for o in organisations]
    if request.method == "GET":
        wanted = request.args.get("appel")
        if wanted and wanted not in {c.reference for c in calls}:
            flash(_("Cet appel n'est pas ouvert aux candidatures."), "error")
        elif wanted:
            form.call.data = wanted
    if len(organisations) == 1 and not form.organisation.data:
        form.organisation.data = organisations[0].siret
    if form.validate_on_submit():
        call = next(c for c in calls if c.reference == form.call.data)
        organisation = next(o for o in organisations if o.siret == form.organisation.data)
        try:
            application = drafts.create_draft(db.session, call=call, organisation=organisation, author=current_user,
                                              title=form.title.data or "")
        except UserFacingError as exc:
            db.session.rollback()
            form.call.errors = [*form.call.errors, exc.message]
        else:
            reference = application.reference
            first = drafts.application_definition(application).sections[0].key
            commit()
            flash(_("Le brouillon %(ref)s est créé : il est enregistré à chaque étape, vous pouvez y revenir à tout moment.",
                    ref=reference), "success")
            return redirect(url_for("applicant.draft_section", reference=reference, section=first))
    status = 422 if request.method == "POST" else 200
    return render_template("applicant/new_draft.html", form=form, organisations=organisations, calls=calls), status


# --- the draft -------------------------------------------------------------------------------------------


@bp.get("/dossiers/<reference>/brouillon")
@role_required("applicant")
def draft(reference: str):
    application, defn = editable_draft(reference)
    if application.state != "draft":
        return _not_editable_redirect(application, _("Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici."))
    answers = application.answers or {}
    context = _page_context(application, defn, answers)
    files = {k: [a.original_name for a in v] for k, v in attachments_by_key(db.session, application).items()}
    return render_template(
        "applicant/draft_overview.html",
        summary=callforms.answers_summary(defn, answers, files={k: v[:1] for k, v in files.items()}),
        problems=_summary_errors(defn, drafts.submission_errors(db.session, application)),
        editable=application.call.is_open(utcnow()),
        **context,
    )


def _render_section(application: Application, defn: FormDefinition, section: Section, *, values: dict[str, Any],
                    answers: dict[str, Any], errors: list[FieldError], status: int = 200, add_row: str | None = None):
    context = _page_context(application, defn, application.answers or {})
    return render_template(
        "applicant/draft_section.html",
        section=section,
        next_section=_next_section(defn, section),
        values=values,
        visible=callforms.visible_keys(defn, answers),
        field_errors=_errors_by_anchor(errors),
        summary_errors=_summary_errors(defn, errors),
        attachments=attachments_by_key(db.session, application),
        add_row=add_row,
        **context,
    ), status


@bp.get("/dossiers/<reference>/brouillon/<section>")
@role_required("applicant")
def draft_section(reference: str, section: str):
    application, defn = editable_draft(reference)
    current = _section_or_404(defn, section)
    try:
        drafts.ensure_editable(application)
    except UserFacingError as exc:
        return _not_editable_redirect(application, exc.message)
    answers = application.answers or {}
    return _render_section(application, defn, current, values=callforms.input_values(defn, answers), answers=answers,
                           errors=[], add_row=request.args.get("ajouter"))


def _parse_action(raw: MultiDict) -> tuple[str, str | None, int | None]:
    """``save`` | ``next`` | ``add:<rows key>`` | ``remove:<rows key>:<index>``."""
    action = raw.get("_action", "save")
    kind, _sep, rest = action.partition(":")
    if kind == "add" and rest:
        return "add", rest, None
    if kind == "remove" and rest:
        key, _sep, index = rest.partition(":")
        if index.isdigit():
            return "remove", key, int(index)
    return ("next" if kind == "next" else "save"), None, None


@bp.post("/dossiers/<reference>/brouillon/<section>")
@role_required("applicant")
def save_section(reference: str, section: str):
    application, defn = editable_draft(reference)
    current = _section_or_404(defn, section)
    action, rows_key, index = _parse_action(request.form)
    raw: Any = request.form
    if action == "remove" and rows_key is not None and index is not None:
        raw = MultiDict([(k, v) for k, values in callforms.without_row(request.form, rows_key, index).items() for v in values])
    keys = _answer_keys(defn, current, raw)
    try:
        changed = drafts.save_answers(db.session, application, raw, current_user, "form", keys=keys)
        commit()
    except drafts.AnswersInvalid as exc:
        db.session.rollback()
        application, defn = editable_draft(reference)
        stored = application.answers or {}
        cleaned, _errors = callforms.clean_answers(defn, raw, source="form", keys=keys)
        effective = callforms.merge_answers(defn, stored, cleaned)
        values = {**callforms.input_values(defn, stored), **callforms.posted_values(defn, raw, keys)}
        return _render_section(application, defn, current, values=values, answers=effective, errors=exc.errors,
                               status=422, add_row=rows_key if action == "add" else None)
    # Other refusals (a submitted file, a closed call: 409) are UserFacingErrors,
    # rendered by the error handler after the request's rollback.
    if action == "add":
        return redirect(url_for("applicant.draft_section", reference=reference, section=section, ajouter=rows_key)
                        + f"#f-{rows_key}", 303)
    if action == "remove":
        flash(_("La ligne est supprimée."), "success")
        return redirect(url_for("applicant.draft_section", reference=reference, section=section) + f"#f-{rows_key}", 303)
    flash(_("Brouillon enregistré.") if changed else _("Aucune modification à enregistrer."), "success")
    following = _next_section(defn, current) if action == "next" else current
    if following is None:
        return redirect(url_for("applicant.draft", reference=reference), 303)
    return redirect(url_for("applicant.draft_section", reference=reference, section=following.key), 303)


@bp.post("/dossiers/<reference>/brouillon/<section>/auto")
@role_required("applicant")
def draft_autosave(reference: str, section: str):
    """Autosave (static/js/autosave.js): the section's form, answered in JSON."""
    application, defn = editable_draft(reference)
    current = _section_or_404(defn, section)
    try:
        changed = drafts.save_answers(db.session, application, request.form, current_user, "form",
                                      keys=_answer_keys(defn, current, request.form))
        commit()
    except drafts.AnswersInvalid as exc:
        db.session.rollback()
        return jsonify({"saved": False, "message": exc.message, "errors": [e.to_json() for e in exc.errors]}), 422
    except UserFacingError as exc:
        db.session.rollback()
        return jsonify({"saved": False, "message": exc.message, "errors": []}), exc.status
    saved_at = datetime.now(PARIS)
    present = drafts.present_file_keys(db.session, application)
    answers = application.answers or {}
    return jsonify({
        "saved": True,
        "changed": changed,
        "saved_at": saved_at.isoformat(timespec="seconds"),
        "message": _("Brouillon enregistré à %(time)s", time=saved_at.strftime("%H:%M")),
        "completeness": [{**p.to_json(), "label": _progress_label(p)} for p in callforms.completeness(defn, answers, present)],
        "requested_amount_cents": application.requested_amount_cents,
    })


bp.add_app_template_global(callforms.DEPARTMENTS, "callform_departments")  # type: ignore[arg-type]
