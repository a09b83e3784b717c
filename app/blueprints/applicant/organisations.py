"""The applicant's organisations: registration by SIRET, legal data, members
and invitations (under /espace)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.access import role_required
from app.blueprints.applicant import bp
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import lazy as _l
from app.formatting import translate as _
from app.forms.organisations import (DEPARTMENT_NAMES, ConfirmForm, InvitationForm, LegalDataForm,
                                     LinkedUndertakingForm, RegisterOrganisationForm, SiretLookupForm)
from app.models import Membership, Organisation, OrganisationInvitation, User
from app.operations import organisations as ops

SIZE_LABELS = {
    "micro": _l("Micro-entreprise"),
    "small": _l("Petite entreprise"),
    "medium": _l("Moyenne entreprise"),
    "large": _l("Grande entreprise"),
}
FIGURE_LABELS = {
    "headcount": _l("l'effectif"),
    "turnover_cents": _l("le chiffre d'affaires"),
    "balance_sheet_cents": _l("le total du bilan"),
}


def me() -> User:
    """The logged-in user as the ORM object (not Flask-Login's proxy)."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _render(template: str, **context):
    return render_template(template, size_labels=SIZE_LABELS, figure_labels=FIGURE_LABELS,
                           department_names=DEPARTMENT_NAMES, **context)


def _load(siret: str, *, owner: bool = False) -> tuple[Organisation, Membership]:
    """The organisation and the current user's membership: 404 for a non-member,
    403 for a member when ``owner`` is required."""
    organisation = ops.find_by_siret(db.session, siret)
    membership = ops.membership_of(db.session, me(), organisation) if organisation is not None else None
    if organisation is None or membership is None:
        abort(404)
    if owner and not membership.is_owner:
        abort(403)
    return organisation, membership


@bp.get("/organisations")
@role_required("applicant")
def organisations():
    memberships = db.session.execute(
        select(Membership).where(Membership.user_id == current_user.id)
        .options(joinedload(Membership.organisation)).join(Membership.organisation).order_by(Organisation.name)
    ).scalars().all()
    return _render("applicant/organisations/list.html", memberships=memberships)


@bp.route("/organisations/nouvelle", methods=["GET", "POST"])
@role_required("applicant")
def organisation_new():
    """Step 1 (GET, ``?siret=``): check the SIRET and look it up in the company
    registry. Step 2: the legal data, prefilled, then POST registers."""
    if request.method == "POST":
        form = RegisterOrganisationForm()
        orphans: list[str] = []
        if form.validate_on_submit():
            try:
                organisation = ops.register_organisation(db.session, me(), form.siret.data, form.legal_data())
            except ops.OrganisationErrors as exc:
                db.session.rollback()
                orphans = form.add_errors(exc.errors)
            else:
                commit()
                flash(_("L'organisation %(name)s est inscrite ; vous en êtes le responsable du compte.",
                        name=organisation.name), "success")
                return redirect(url_for("applicant.organisation_detail", siret=organisation.siret))
        return _render("applicant/organisations/new.html", form=form, step=2, record=None, orphans=orphans)

    lookup = SiretLookupForm(request.args)
    if "siret" not in request.args or not lookup.validate():
        return _render("applicant/organisations/new.html", lookup=lookup, step=1)
    siret = lookup.siret.data
    if ops.find_by_siret(db.session, siret) is not None:
        lookup.siret.errors = [_("Cette organisation est déjà inscrite sur Guichet : demandez à son responsable "
                                 "de compte de vous inviter.")]
        return _render("applicant/organisations/new.html", lookup=lookup, step=1)
    record = ops.lookup_company(siret)
    form = RegisterOrganisationForm(formdata=None, data={"siret": siret, **(record.as_dict() if record else {})})
    form.set_department(record.department if record else None)
    return _render("applicant/organisations/new.html", form=form, step=2, record=record, orphans=[])


@bp.get("/organisations/<siret>")
@role_required("applicant")
def organisation_detail(siret: str):
    organisation, membership = _load(siret)
    return _render("applicant/organisations/detail.html", organisation=organisation, membership=membership)


def _links_page(organisation: Organisation, membership: Membership, form: LinkedUndertakingForm | None = None,
                status: int = 200):
    from app.ledger import de_minimis_counted
    from app.ledger.undertakings import group_of, links_of

    return _render("applicant/organisations/linked.html", organisation=organisation, membership=membership,
                   links=links_of(db.session, organisation.siren), group=group_of(db.session, organisation.siren),
                   counted=de_minimis_counted(db.session, organisation.siren),
                   form=form or (LinkedUndertakingForm(formdata=None) if membership.is_owner else None)), status


@bp.get("/organisations/<siret>/entreprises-liees")
@role_required("applicant")
def organisation_links(siret: str):
    organisation, membership = _load(siret)
    return _links_page(organisation, membership)


@bp.post("/organisations/<siret>/entreprises-liees")
@role_required("applicant")
def organisation_link_add(siret: str):
    """The account's owner declares a linked company (de minimis: one single
    undertaking). A declaration is kept; one made in error is removed by the
    Region's staff, with its reason."""
    from app.ledger.undertakings import LinkRefused, declare_link

    organisation, membership = _load(siret, owner=True)
    form = LinkedUndertakingForm()
    if form.validate_on_submit():
        try:
            _link, created = declare_link(db.session, organisation.siren, form.siren.data, form.relation.data,
                                          actor=me(), role="applicant", organisation_id=organisation.id)
        except LinkRefused as exc:
            db.session.rollback()
            form.siren.errors = [*form.siren.errors, str(exc)]
        else:
            commit()
            flash(_("L'entreprise liée est enregistrée.") if created else _("Ce lien était déjà enregistré."),
                  "success" if created else "info")
            return redirect(url_for("applicant.organisation_links", siret=organisation.siret), 303)
    return _links_page(organisation, membership, form, 422)


@bp.route("/organisations/<siret>/modifier", methods=["GET", "POST"])
@role_required("applicant")
def organisation_edit(siret: str):
    organisation, _membership = _load(siret)
    form = LegalDataForm(obj=organisation)
    orphans: list[str] = []
    if request.method == "GET":
        form.set_department(organisation.department)
    elif form.validate_on_submit():
        try:
            changed = ops.update_organisation(db.session, me(), organisation, form.legal_data())
        except ops.OrganisationErrors as exc:
            db.session.rollback()
            orphans = form.add_errors(exc.errors)
        else:
            commit()
            flash(_("Les données de l'organisation sont enregistrées.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("applicant.organisation_detail", siret=organisation.siret))
    return _render("applicant/organisations/edit.html", organisation=organisation, form=form, orphans=orphans)


def _members_page(organisation: Organisation, membership: Membership, invite_form: InvitationForm | None = None):
    members = db.session.execute(
        select(Membership).where(Membership.organisation_id == organisation.id)
        .options(joinedload(Membership.user)).join(Membership.user)
        .order_by(Membership.is_owner.desc(), User.name)
    ).scalars().all()
    invitations = ops.pending_invitations(db.session, organisation) if membership.is_owner else []
    return _render("applicant/organisations/members.html", organisation=organisation, membership=membership,
                   members=members, owner_count=sum(1 for m in members if m.is_owner), invitations=invitations,
                   invite_form=invite_form or (InvitationForm(formdata=None) if membership.is_owner else None),
                   confirm_form=ConfirmForm(formdata=None))


@bp.get("/organisations/<siret>/membres")
@role_required("applicant")
def organisation_members(siret: str):
    organisation, membership = _load(siret)
    return _members_page(organisation, membership)


@bp.post("/organisations/<siret>/invitations")
@role_required("applicant")
def organisation_invite(siret: str):
    organisation, membership = _load(siret, owner=True)
    form = InvitationForm()
    if form.validate_on_submit():
        try:
            invitation, _token = ops.invite_member(db.session, me(), organisation, form.email.data)
        except ops.OrganisationErrors as exc:
            db.session.rollback()
            form.email.errors = [*form.email.errors, *exc.errors.values()]
        else:
            commit()
            flash(_("Invitation envoyée à %(email)s.", email=invitation.email), "success")
            return redirect(url_for("applicant.organisation_members", siret=organisation.siret))
    return _members_page(organisation, membership, form), 422


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.post("/organisations/<siret>/invitations/<int:invitation_id>/annuler")
@role_required("applicant")
def invitation_revoke(siret: str, invitation_id: int):
    organisation, _membership = _load(siret, owner=True)
    _confirmed()
    invitation = db.session.get(OrganisationInvitation, invitation_id)
    if invitation is None or invitation.organisation_id != organisation.id:
        abort(404)
    ops.revoke_invitation(db.session, me(), invitation)
    commit()
    flash(_("L'invitation adressée à %(email)s est annulée.", email=invitation.email), "success")
    return redirect(url_for("applicant.organisation_members", siret=organisation.siret))


def _target_membership(organisation: Organisation, membership_id: int) -> Membership:
    target = db.session.get(Membership, membership_id)
    if target is None or target.organisation_id != organisation.id:
        abort(404)
    return target


@bp.post("/organisations/<siret>/membres/<int:membership_id>/retirer")
@role_required("applicant")
def member_remove(siret: str, membership_id: int):
    organisation, membership = _load(siret)
    target = _target_membership(organisation, membership_id)
    if target.id != membership.id and not membership.is_owner:
        abort(403)
    _confirmed()
    leaving = target.id == membership.id
    name = target.user.name
    ops.remove_member(db.session, me(), target)
    commit()
    if leaving:
        flash(_("Vous ne faites plus partie de %(org)s.", org=organisation.name), "success")
        return redirect(url_for("applicant.organisations"))
    flash(_("%(name)s ne fait plus partie de l'organisation.", name=name), "success")
    return redirect(url_for("applicant.organisation_members", siret=organisation.siret))


@bp.post("/organisations/<siret>/membres/<int:membership_id>/responsable")
@role_required("applicant")
def member_make_owner(siret: str, membership_id: int):
    organisation, _membership = _load(siret, owner=True)
    target = _target_membership(organisation, membership_id)
    _confirmed()
    ops.transfer_ownership(db.session, me(), target)
    commit()
    flash(_("%(name)s est désormais responsable du compte de l'organisation.", name=target.user.name), "success")
    return redirect(url_for("applicant.organisation_members", siret=organisation.siret))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@login_required
def invitation(token: str):
    """Whose invitation it is, and a button to accept it (the invited address only)."""
    found = ops.find_invitation(db.session, token)
    if found is None:
        raise UserFacingError(_("Cette invitation n'existe pas : vérifiez le lien reçu par courriel."), status=404)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        membership = ops.accept_invitation(db.session, token, me())
        organisation = membership.organisation
        commit()
        flash(_("Vous agissez désormais pour %(org)s.", org=organisation.name), "success")
        return redirect(url_for("applicant.organisation_detail", siret=organisation.siret))
    problem = ops.invitation_problem(found, me())
    inviter = db.session.get(User, found.invited_by_id) if found.invited_by_id else None
    return _render("applicant/organisations/invitation.html", invitation=found, inviter=inviter,
                   problem=problem[0] if problem else None, form=form), (problem[1] if problem else 200)
