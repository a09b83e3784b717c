"""Committee space: members see their sessions and agendas, declare
withdrawals and interests, give proxies and vote; staff (admin, instructor)
build committees, sessions and agendas, keep the attendance, open and close
votes and sessions, approve minutes. A committee member sees only the sessions
of the committees he sits on, and the files on their agendas (403 otherwise)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.access import role_required, staff_call_ids
from app.committee_minutes import latest_minutes, minutes_reference
from app.db_helpers import commit
from app.documents import receipt_name, send_document
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import PARIS
from app.formatting import translate as _
from app.forms.committee import (AgendaItemForm, AttendanceForm, ChairForm, CommitteeForm, InterestForm, ItemSettingsForm,
                                 MemberForm, ProxyForm, SessionForm, VoteForm, WithdrawalForm)
from app.models import (AgendaItem, Application, Committee, CommitteeSession, Document, InterestDeclaration,
                        Organisation, RoleAssignment, User, Withdrawal, utcnow)
from app.operations import committee as ops
from app.operations import conflicts

bp = Blueprint("committee", __name__, url_prefix="/commission")

PAGE_ROLES = ("committee", "admin", "instructor")


def _is_staff() -> bool:
    return current_user.has_any_role(*ops.STAFF_ROLES)


def _staff_role() -> str:
    return next(r for r in ops.STAFF_ROLES if current_user.has_role(r))


def _actor_role(cs: CommitteeSession) -> str:
    return _staff_role() if _staff_for(cs) else "committee"


def _staff_for(cs: CommitteeSession) -> bool:
    """Staff of every call on the session's agenda (globally, or scoped to those calls)."""
    return _is_staff() and ops.staff_covers(current_user, cs)


def _session_or_403(session_id: int, *, staff_only: bool = False) -> CommitteeSession:
    cs = db.session.get(CommitteeSession, session_id)
    if cs is None:
        abort(404)
    member = not staff_only and current_user.has_role("committee") and ops.is_member(cs.committee, current_user)
    if not (_staff_for(cs) or member):
        abort(403)
    return cs


def _ready_files() -> list[Application]:
    """The files ready for a committee, of the calls the current staff member holds his role on."""
    calls = staff_call_ids(current_user, ops.STAFF_ROLES)
    return [a for a in ops.files_ready(db.session) if calls is None or a.call_id in calls]


def _item_or_404(cs: CommitteeSession, item_id: int) -> AgendaItem:
    """The session's item; staff who run the session without sitting on the committee
    do not open a file they are conflicted on (members withdraw from it instead: déport)."""
    item = next((i for i in cs.items if i.id == item_id), None)
    if item is None:
        abort(404)
    if _staff_for(cs) and not ops.is_member(cs.committee, current_user):
        conflicts.require_no_conflict(db.session, current_user, item.application)
    return item


def _run(action, success: str | None = None) -> bool:
    """Run one operation and commit; a refusal becomes a message and nothing is kept."""
    try:
        action()
        commit()
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return False
    except IntegrityError:
        db.session.rollback()
        flash(_("Cette modification entre en conflit avec une autre, faite entre-temps : rechargez la page."), "error")
        return False
    if success:
        flash(success, "success")
    return True


def _back(cs: CommitteeSession, anchor: str = ""):
    return redirect(url_for("committee.session_detail", session_id=cs.id) + anchor)


def _form_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


def _vote_units(items: list[AgendaItem]) -> list[dict]:
    """What is voted at once: each block, and each item outside a block."""
    units: list[dict] = []
    for item in items:
        if item.block:
            unit = next((u for u in units if u["key"] == f"block:{item.block}"), None)
            if unit is None:
                unit = {"key": f"block:{item.block}", "label": _("Bloc %(name)s", name=item.block), "items": []}
                units.append(unit)
        else:
            unit = {"key": f"item:{item.id}", "label": _("Point %(n)s", n=item.position), "items": []}
            units.append(unit)
        unit["items"].append(item)
    for unit in units:
        statuses = {i.vote_status for i in unit["items"]}
        unit["status"] = statuses.pop() if len(statuses) == 1 else "mixed"
    return units


def _members(committee: Committee) -> list[User]:
    return [m.user for m in committee.members_in_office]


# --- members' and staff pages -----------------------------------------------------

@bp.get("/")
@role_required("committee")
def index():
    """A member's home: his upcoming and past sessions."""
    return _home(staff=False)


@bp.get("/gestion")
@role_required(*ops.STAFF_ROLES)
def manage():
    """Staff: every session, the committees, new committees and sessions."""
    return _home(staff=True)


def _home(staff: bool):
    sessions = ops.visible_sessions(db.session, current_user)
    now = utcnow()
    upcoming = sorted((s for s in sessions if s.status in ("planned", "open") or s.held_at >= now),
                      key=lambda s: s.held_at)
    past = [s for s in sessions if s not in upcoming]
    context = {"upcoming": upcoming, "past": past, "staff": staff}
    if staff:
        committees = list(db.session.execute(select(Committee).order_by(Committee.name)).scalars())
        session_form = SessionForm(prefix="session")
        session_form.committee_id.choices = [(c.id, c.name) for c in committees]
        context.update(committees=committees, committee_form=CommitteeForm(prefix="committee"),
                       session_form=session_form)
    return render_template("committee/index.html", **context)


@bp.get("/seances/<int:session_id>")
@role_required(*PAGE_ROLES)
def session_detail(session_id: int):
    cs = _session_or_403(session_id)
    members = _members(cs.committee)
    items = cs.items
    quorums = {item.id: ops.quorum(cs, item) for item in items}
    tallies = {item.id: ops.tally(item) for item in items}
    participants = {item.id: ops.participants(cs, item) for item in items}
    units = _vote_units(items)
    me = current_user
    # What the current member may vote: himself and the member whose proxy he holds.
    my_voters = [u for u in members if any(p.get(u.id) == me.id for p in participants.values())]
    context = dict(cs=cs, committee=cs.committee, members=members, items=items, quorum=ops.quorum(cs),
                   quorums=quorums, tallies=tallies, participants=participants, units=units,
                   attendance={a.user_id: a for a in cs.attendances}, staff=_staff_for(cs), my_voters=my_voters,
                   is_member=ops.is_member(cs.committee, me), minutes=latest_minutes(db.session, cs),
                   minutes_reference=minutes_reference(cs), vote_form=VoteForm(),
                   names={u.id: u.name for u in members})
    if ops.is_member(cs.committee, me) and cs.status in ("planned", "open"):
        proxy_form = ProxyForm(prefix="proxy")
        proxy_form.holder_id.choices = [(u.id, u.name) for u in members if u.id != me.id]
        context["proxy_form"] = proxy_form
    if _staff_for(cs):
        attendance_form = AttendanceForm(prefix="attendance")
        attendance_form.member_id.choices = [(u.id, u.name) for u in members]
        attendance_form.holder_id.choices = [(0, _("— aucune —"))] + [(u.id, u.name) for u in members]
        item_form = AgendaItemForm(prefix="item")
        item_form.application_id.choices = [(a.id, f"{a.reference} — {a.title}") for a in _ready_files()]
        context.update(attendance_form=attendance_form, item_form=item_form,
                       to_approve=ops.previous_session_to_approve(db.session, cs) if cs.status == "open" else None)
    return render_template("committee/session.html", **context)


@bp.get("/seances/<int:session_id>/points/<int:item_id>")
@role_required(*PAGE_ROLES)
def item_detail(session_id: int, item_id: int):
    cs = _session_or_403(session_id)
    item = _item_or_404(cs, item_id)
    members = _members(cs.committee)
    settings = ItemSettingsForm(prefix="settings", data={"block": item.block, "amount": item.amount_cents})
    documents = db.session.execute(select(Document).where(Document.application_id == item.application_id)
                                   .order_by(Document.kind, Document.version.desc())).scalars().all()
    latest: dict[str, Document] = {}
    for d in documents:
        latest.setdefault(d.kind, d)
    return render_template(
        "committee/item.html", cs=cs, item=item, application=item.application, members=members,
        flags=ops.link_flags(db.session, item, members), quorum=ops.quorum(cs, item), tally=ops.tally(item),
        participants=ops.participants(cs, item), staff=_staff_for(cs), is_member=ops.is_member(cs.committee, current_user),
        withdrawn={w.user_id for w in item.withdrawals}, settings_form=settings, withdrawal_form=WithdrawalForm(),
        documents=list(latest.values()), names={u.id: u.name for u in members},
    )


@bp.get("/seances/<int:session_id>/points/<int:item_id>/documents/<int:document_id>")
@role_required(*PAGE_ROLES)
def item_document(session_id: int, item_id: int, document_id: int):
    cs = _session_or_403(session_id)
    item = _item_or_404(cs, item_id)
    document = db.session.get(Document, document_id)
    if document is None or document.application_id != item.application_id:
        abort(404)
    if document.kind == "receipt":
        name = receipt_name(item.application)
    else:
        name = f"{document.kind}-{item.application.reference}-v{document.version}.pdf"
    return send_document(document, name)


@bp.get("/seances/<int:session_id>/proces-verbal.pdf")
@role_required(*PAGE_ROLES)
def minutes_pdf(session_id: int):
    cs = _session_or_403(session_id)
    document = latest_minutes(db.session, cs)
    if document is None:
        abort(404)
    return send_document(document, f"{minutes_reference(cs)}.pdf")


@bp.route("/declarations", methods=["GET", "POST"])
@role_required("committee")
def declarations():
    form = InterestForm()
    if form.validate_on_submit():
        organisation = db.session.execute(select(Organisation).where(Organisation.siret == form.siret.data)).scalar()
        if organisation is None:
            form.siret.errors.append(_("Aucune organisation inscrite sur le Guichet n'a ce numéro SIRET."))
        elif _run(lambda: ops.declare_interest(db.session, current_user, organisation, form.description.data),
                  _("Votre déclaration d'intérêt est enregistrée.")):
            return redirect(url_for("committee.declarations"))
    interests = db.session.execute(
        select(InterestDeclaration).where(InterestDeclaration.user_id == current_user.id)
        .options(joinedload(InterestDeclaration.organisation)).order_by(InterestDeclaration.declared_at.desc())
    ).scalars().all()
    withdrawals = db.session.execute(
        select(Withdrawal).where(Withdrawal.user_id == current_user.id)
        .options(joinedload(Withdrawal.item).joinedload(AgendaItem.application)).order_by(Withdrawal.declared_at.desc())
    ).scalars().all()
    return render_template("committee/declarations.html", form=form, interests=interests, withdrawals=withdrawals)


# --- members' actions ----------------------------------------------------------------

@bp.post("/seances/<int:session_id>/points/<int:item_id>/deport")
@role_required(*PAGE_ROLES)
def declare_withdrawal(session_id: int, item_id: int):
    cs = _session_or_403(session_id)
    item = _item_or_404(cs, item_id)
    form = WithdrawalForm()
    if not form.validate():
        _form_errors(form)
        return redirect(url_for("committee.item_detail", session_id=cs.id, item_id=item.id))
    member = current_user
    if form.member_id.data and form.member_id.data != current_user.id:
        if not _staff_for(cs):
            abort(403)
        member = db.session.get(User, form.member_id.data) or abort(404)
    elif not ops.is_member(cs.committee, current_user):
        abort(403)
    _run(lambda: ops.declare_withdrawal(db.session, item, member, reason=form.reason.data or "", actor=current_user,
                                        role=_actor_role(cs)),
         _("Le déport est enregistré : %(name)s ne prend pas part au vote sur ce point.", name=member.name))
    return redirect(url_for("committee.item_detail", session_id=cs.id, item_id=item.id))


@bp.post("/seances/<int:session_id>/procuration")
@role_required("committee")
def give_proxy(session_id: int):
    cs = _session_or_403(session_id)
    if not ops.is_member(cs.committee, current_user):
        abort(403)
    form = ProxyForm(prefix="proxy")
    form.holder_id.choices = [(u.id, u.name) for u in _members(cs.committee) if u.id != current_user.id]
    if not form.validate():
        _form_errors(form)
        return _back(cs)
    holder = db.session.get(User, form.holder_id.data)
    _run(lambda: ops.set_attendance(db.session, cs, current_user, "represented", proxy_holder=holder,
                                    actor=current_user, role="committee"),
         _("Votre procuration à %(name)s est enregistrée pour cette séance.", name=holder.name))
    return _back(cs)


@bp.post("/seances/<int:session_id>/vote")
@role_required(*PAGE_ROLES)
def vote(session_id: int):
    """A member votes for himself or for the member whose proxy he holds; staff
    record a show of hands for any member taking part."""
    cs = _session_or_403(session_id)
    form = VoteForm()
    if not form.validate():
        _form_errors(form)
        return _back(cs, "#votes")
    voter = db.session.get(User, form.voter_id.data)
    if voter is None:
        abort(404)
    if not _staff_for(cs) and not ops.is_member(cs.committee, current_user):
        abort(403)

    def action():
        items = ops.items_for(cs, form.key.data)
        ops.cast_vote(db.session, items, voter, form.choice.data, cast_by=current_user, actor=current_user,
                      role=_actor_role(cs))

    _run(action, _("Vote enregistré pour %(name)s.", name=voter.name))
    return _back(cs, "#votes")


# --- staff: committees and sessions -------------------------------------------------------

@bp.post("/commissions")
@role_required(*ops.STAFF_ROLES)
def create_committee():
    form = CommitteeForm(prefix="committee")
    if not form.validate():
        _form_errors(form)
    else:
        _run(lambda: ops.create_committee(db.session, name=form.name.data, code=form.code.data, kind=form.kind.data,
                                          quorum=form.quorum.data, tie_rule=form.tie_rule.data, actor=current_user,
                                          role=_staff_role()),
             _("Commission créée."))
    return redirect(url_for("committee.manage"))


@bp.route("/commissions/<int:committee_id>", methods=["GET", "POST"])
@role_required(*ops.STAFF_ROLES)
def committee_detail(committee_id: int):
    committee = db.session.get(Committee, committee_id) or abort(404)
    candidates = db.session.execute(
        select(User).join(RoleAssignment).where(RoleAssignment.role == "committee", User.active.is_(True))
        .order_by(User.name)
    ).scalars().unique().all()
    member_form = MemberForm(prefix="member")
    member_form.user_id.choices = [(u.id, u.name) for u in candidates if not ops.is_member(committee, u)]
    chair_form = ChairForm(prefix="chair", data={"chair_id": committee.chair_id})
    chair_form.chair_id.choices = [(u.id, u.name) for u in _members(committee)]
    if request.method == "POST":
        if "member-user_id" in request.form and member_form.validate():
            user = db.session.get(User, member_form.user_id.data)
            _run(lambda: ops.add_member(db.session, committee, user, actor=current_user, role=_staff_role()),
                 _("%(name)s est membre de la commission.", name=user.name))
        elif "chair-chair_id" in request.form and chair_form.validate():
            user = db.session.get(User, chair_form.chair_id.data)
            _run(lambda: ops.set_chair(db.session, committee, user, actor=current_user, role=_staff_role()),
                 _("%(name)s préside la commission.", name=user.name))
        elif "end-mandate" in request.form:
            member = next((m for m in committee.members if str(m.id) == request.form["end-mandate"]), None) or abort(404)
            _run(lambda: ops.end_mandate(db.session, member, actor=current_user, role=_staff_role()),
                 _("Fin de mandat enregistrée."))
        else:
            _form_errors(member_form)
            _form_errors(chair_form)
        return redirect(url_for("committee.committee_detail", committee_id=committee.id))
    return render_template("committee/committee.html", committee=committee, member_form=member_form,
                           chair_form=chair_form)


@bp.post("/seances")
@role_required(*ops.STAFF_ROLES)
def plan_session():
    form = SessionForm(prefix="session")
    form.committee_id.choices = [(c.id, c.name) for c in db.session.execute(select(Committee)).scalars()]
    if not form.validate():
        _form_errors(form)
        return redirect(url_for("committee.manage"))
    committee = db.session.get(Committee, form.committee_id.data)
    held_at = datetime.combine(form.day.data, form.time.data, tzinfo=PARIS)
    created: list[CommitteeSession] = []
    if _run(lambda: created.append(ops.plan_session(db.session, committee, held_at=held_at, place=form.place.data,
                                                    actor=current_user, role=_staff_role())),
            _("Séance programmée.")):
        return _back(created[0])
    return redirect(url_for("committee.manage"))


@bp.post("/seances/<int:session_id>/points")
@role_required(*ops.STAFF_ROLES)
def add_item(session_id: int):
    cs = _session_or_403(session_id, staff_only=True)
    form = AgendaItemForm(prefix="item")
    form.application_id.choices = [(a.id, a.reference) for a in _ready_files()]
    if not form.validate():
        _form_errors(form)
        return _back(cs, "#ordre-du-jour")
    application = db.session.get(Application, form.application_id.data)
    _run(lambda: ops.add_item(db.session, cs, application, block=form.block.data, actor=current_user,
                              role=_staff_role()),
         _("Dossier %(ref)s inscrit à l'ordre du jour.", ref=application.reference))
    return _back(cs, "#ordre-du-jour")


@bp.post("/seances/<int:session_id>/points/<int:item_id>")
@role_required(*ops.STAFF_ROLES)
def update_item(session_id: int, item_id: int):
    cs = _session_or_403(session_id, staff_only=True)
    item = _item_or_404(cs, item_id)
    form = ItemSettingsForm(prefix="settings")
    if not form.validate():
        _form_errors(form)
    else:
        def action():
            if (form.block.data or None) != item.block:
                ops.set_block(db.session, item, form.block.data, actor=current_user, role=_staff_role())
            if form.amount.data != item.amount_cents:
                ops.set_amount(db.session, item, form.amount.data, actor=current_user, role=_staff_role())

        _run(action, _("Point mis à jour."))
    return redirect(url_for("committee.item_detail", session_id=cs.id, item_id=item.id))


@bp.post("/seances/<int:session_id>/presences")
@role_required(*ops.STAFF_ROLES)
def set_attendance(session_id: int):
    cs = _session_or_403(session_id, staff_only=True)
    members = _members(cs.committee)
    form = AttendanceForm(prefix="attendance")
    form.member_id.choices = [(u.id, u.name) for u in members]
    if not form.validate():
        _form_errors(form)
        return _back(cs, "#presences")
    member = db.session.get(User, form.member_id.data)
    holder = db.session.get(User, form.holder_id.data) if form.holder_id.data else None
    _run(lambda: ops.set_attendance(db.session, cs, member, form.status.data, proxy_holder=holder,
                                    actor=current_user, role=_staff_role()),
         _("Présence de %(name)s enregistrée.", name=member.name))
    return _back(cs, "#presences")


@bp.post("/seances/<int:session_id>/<any(ouvrir, clore):action>")
@role_required(*ops.STAFF_ROLES)
def session_status(session_id: int, action: str):
    cs = _session_or_403(session_id, staff_only=True)
    operation = ops.open_session if action == "ouvrir" else ops.close_session
    _run(lambda: operation(db.session, cs, actor=current_user, role=_staff_role()),
         _("Séance ouverte.") if action == "ouvrir" else _("Séance close : le projet de procès-verbal est établi."))
    return _back(cs)


@bp.post("/seances/<int:session_id>/votes/<any(ouvrir, clore):action>")
@role_required(*ops.STAFF_ROLES)
def vote_status(session_id: int, action: str):
    cs = _session_or_403(session_id, staff_only=True)

    def run():
        items = ops.items_for(cs, request.form.get("key", ""))
        if action == "ouvrir":
            ops.open_vote(db.session, items, actor=current_user, role=_staff_role())
        else:
            ops.close_vote(db.session, items, actor=current_user, role=_staff_role())

    _run(run, _("Vote ouvert.") if action == "ouvrir" else _("Vote clos : la délibération est enregistrée."))
    return _back(cs, "#votes")


@bp.post("/seances/<int:session_id>/approuver-proces-verbal")
@role_required(*ops.STAFF_ROLES)
def approve_minutes(session_id: int):
    cs = _session_or_403(session_id, staff_only=True)
    previous = ops.previous_session_to_approve(db.session, cs)
    if previous is None:
        flash(_("Aucun procès-verbal n'attend d'approbation."), "error")
        return _back(cs)
    _run(lambda: ops.approve_minutes(db.session, previous, cs, actor=current_user, role=_staff_role()),
         _("Procès-verbal approuvé : les décisions sont publiées."))
    return _back(cs)
