"""The instructors' workspace: the list of files with filters, sort, search
and pagination in a constant number of queries; saved views; assignment;
bulk actions re-checked file by file; private annotations.

``Filters.from_args`` reads the query string (every value a string, bad
values reported in French, never half-applied); ``search`` returns one page.
Queries per page: the page itself (files joined with their call, organisation
and instructor, and the latest eligibility decision as a column), the total,
and two or three for conflict marks (the third for a non-public e-mail domain)
— whatever the page size and whatever the files; only an empty page skips the
conflict queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager

from app import audit
from app.access import staff_call_ids
from app.errors import UserFacingError
from app.exports import DATE_FORMAT, DATETIME_FORMAT, MONEY_FORMAT, euros, stream
from app.formatting import PARIS, lazy
from app.formatting import translate as _
from app.models import (GRAND_EST_DEPARTMENTS, Annotation, Application, Call, EligibilityDecision, Membership,
                        Organisation, RoleAssignment, SavedView, User, WorkflowVersion)
from app.models.organisation import SIZE_CATEGORIES
from app.operations import conflicts

WORKSPACE_ROLES = ("instructor", "admin")
PAGE_SIZES = (25, 50, 100)
ELIGIBILITY_CHOICES = ("eligible", "ineligible", "undecided")
# sort key → column (a second key, the id, keeps the order total and stable)
SORTS: dict[str, Any] = {
    "submitted": Application.submitted_at,
    "reference": Application.reference,
    "amount": Application.requested_amount_cents,
    "title": Application.title,
    "organisation": Organisation.name,
    "state": Application.state,
    "due": Application.due_date,
}
FILTER_KEYS = ("call", "state", "stage", "department", "size", "instructor", "amount_min", "amount_max",
               "submitted_from", "submitted_to", "eligibility", "q", "sort", "dir")


def latest_eligibility():
    """The latest eligibility decision of the row's file (True, False or NULL), as a correlated column."""
    return (select(EligibilityDecision.eligible).where(EligibilityDecision.application_id == Application.id)
            .order_by(EligibilityDecision.id.desc()).limit(1).correlate(Application).scalar_subquery())


def _decisions_of_row():
    return select(EligibilityDecision.id).where(EligibilityDecision.application_id == Application.id)


def latest_eligibility_is(eligible: bool):
    """The row's latest eligibility decision says ``eligible``, as (NOT) EXISTS: a filter on the
    correlated column above is estimated at a fraction of a percent of the rows whatever its real
    share, and at 100,000 files PostgreSQL then chose nested loops that took a minute
    (bench/FINDINGS.md); semi- and anti-joins are estimated from the table's statistics.
    (A decision's ``eligible`` is never NULL: "undecided" is "no decision at all".)"""
    newer = aliased(EligibilityDecision)
    latest = (select(EligibilityDecision.id)
              .where(EligibilityDecision.application_id == Application.id,
                     EligibilityDecision.eligible.is_(eligible),
                     ~select(newer.id).where(newer.application_id == EligibilityDecision.application_id,
                                             newer.id > EligibilityDecision.id).exists()))
    return latest.exists()


@dataclass
class Filters:
    values: dict[str, str] = field(default_factory=dict)  # the accepted ones, as strings (for links and saved views)
    errors: list[str] = field(default_factory=list)
    page: int = 1
    per_page: int = PAGE_SIZES[0]

    @classmethod
    def from_args(cls, args: Any) -> "Filters":
        filters = cls()
        for key in FILTER_KEYS:
            value = (args.get(key) or "").strip()
            if value:
                filters.values[key] = value
        try:
            filters.page = max(int(args.get("page", 1)), 1)
        except (TypeError, ValueError):
            filters.errors.append(_("Numéro de page invalide."))
        try:
            per_page = int(args.get("per_page", PAGE_SIZES[0]))
            filters.per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
        except (TypeError, ValueError):
            pass
        return filters

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def query_args(self, **overrides: Any) -> dict[str, Any]:
        args: dict[str, Any] = dict(self.values)
        if self.per_page != PAGE_SIZES[0]:
            args["per_page"] = self.per_page
        args.update({k: v for k, v in overrides.items() if v is not None})
        return args


@dataclass
class Page:
    items: list[tuple[Application, bool | None]]
    total: int
    page: int
    per_page: int
    conflicted: set[int]

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def scope(user: User) -> Select:
    """The submitted files of the calls where ``user`` is instructor or admin (joined with their organisation)."""
    stmt = select(Application).join(Application.organisation).join(Application.call).where(Application.state != "draft")
    ids = staff_call_ids(user, WORKSPACE_ROLES)
    if ids is None:
        return stmt
    return stmt.where(Application.call_id.in_(ids)) if ids else stmt.where(false())


def stage_states(session: Session) -> dict[str, set[str]]:
    """stage → the states in it, over every stored workflow version (one query)."""
    out: dict[str, set[str]] = {}
    for definition in session.execute(select(WorkflowVersion.definition)).scalars():
        for state, spec in (definition.get("states") or {}).items():
            if isinstance(spec, dict) and spec.get("stage"):
                out.setdefault(spec["stage"], set()).add(state)
    return out


def transition_choices(session: Session) -> list[tuple[str, str]]:
    """(name, label) of the transitions staff may fire in bulk (instructor or admin), over every stored workflow version."""
    out: dict[str, str] = {}
    for definition in session.execute(select(WorkflowVersion.definition)).scalars():
        for spec in definition.get("transitions") or []:
            if isinstance(spec, dict) and set(spec.get("roles") or ()) & set(WORKSPACE_ROLES):
                if spec["name"] != "request_corrections":  # has its own bulk action, with fields and a due date
                    out.setdefault(spec["name"], spec.get("label") or spec["name"])
    return sorted(out.items(), key=lambda item: item[1])


def _euros(value: str, label: str, errors: list[str]) -> int | None:
    try:
        amount = Decimal(value.replace("\u202f", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        errors.append(_("%(label)s : montant en euros invalide (« %(value)s »).", label=label, value=value))
        return None
    if amount < 0:
        errors.append(_("%(label)s : le montant doit être positif.", label=label))
        return None
    return int(amount * 100)


def _day(value: str, label: str, errors: list[str]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(_("%(label)s : date invalide, utilisez le format AAAA-MM-JJ.", label=label))
        return None


def _paris_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=PARIS)


def apply_filters(session: Session, stmt: Select, filters: Filters, user: User) -> Select:
    """``stmt`` narrowed by every accepted filter; refused values go to ``filters.errors`` and are dropped."""
    v, errors = filters.values, filters.errors

    def drop(key: str) -> None:
        v.pop(key, None)

    if v.get("call"):
        stmt = stmt.where(Call.reference == v["call"])
    if v.get("state"):
        stmt = stmt.where(Application.state == v["state"])
    if v.get("stage"):
        states = stage_states(session).get(v["stage"])
        if states is None:
            errors.append(_("Étape inconnue : %(stage)s.", stage=v["stage"]))
            drop("stage")
        else:
            stmt = stmt.where(Application.state.in_(sorted(states)))
    if v.get("department"):
        if v["department"] not in GRAND_EST_DEPARTMENTS and not v["department"].isalnum():
            errors.append(_("Département invalide."))
            drop("department")
        else:
            stmt = stmt.where(Organisation.department == v["department"])
    if v.get("size"):
        if v["size"] not in SIZE_CATEGORIES:
            errors.append(_("Taille d'entreprise inconnue."))
            drop("size")
        else:
            stmt = stmt.where(Organisation.size_category == v["size"])
    if v.get("instructor"):
        who = v["instructor"]
        if who == "none":
            stmt = stmt.where(Application.assigned_instructor_id.is_(None))
        elif who == "me":
            stmt = stmt.where(Application.assigned_instructor_id == user.id)
        elif who.isdigit():
            stmt = stmt.where(Application.assigned_instructor_id == int(who))
        else:
            errors.append(_("Instructeur inconnu."))
            drop("instructor")
    for key, label, op in (("amount_min", _("Montant minimum"), "ge"), ("amount_max", _("Montant maximum"), "le")):
        if v.get(key):
            cents = _euros(v[key], label, errors)
            if cents is None:
                drop(key)
            else:
                column = Application.requested_amount_cents
                stmt = stmt.where(column >= cents if op == "ge" else column <= cents)
    if v.get("submitted_from"):
        day = _day(v["submitted_from"], _("Déposé à partir du"), errors)
        if day is None:
            drop("submitted_from")
        else:
            stmt = stmt.where(Application.submitted_at >= _paris_start(day))
    if v.get("submitted_to"):
        day = _day(v["submitted_to"], _("Déposé jusqu'au"), errors)
        if day is None:
            drop("submitted_to")
        else:
            stmt = stmt.where(Application.submitted_at < _paris_start(day + timedelta(days=1)))
    if v.get("eligibility"):
        choice = v["eligibility"]
        if choice in ("eligible", "ineligible"):
            stmt = stmt.where(latest_eligibility_is(choice == "eligible"))
        elif choice == "undecided":
            stmt = stmt.where(~_decisions_of_row().exists())
        else:
            errors.append(_("Résultat d'éligibilité inconnu."))
            drop("eligibility")
    if v.get("q"):
        words = v["q"][:100]
        pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Application.title.ilike(pattern, escape="\\"),
                              Organisation.name.ilike(pattern, escape="\\"),
                              Application.reference.ilike(pattern, escape="\\")))
    return stmt


def _order(filters: Filters) -> list[Any]:
    key = filters.get("sort") or "submitted"
    if key not in SORTS:
        filters.errors.append(_("Tri inconnu : %(key)s.", key=key))
        filters.values.pop("sort", None)
        key = "submitted"
    descending = (filters.get("dir") or ("desc" if key == "submitted" else "asc")) == "desc"
    column = SORTS[key]
    if descending:
        return [column.desc(), Application.id.desc()]
    return [column.asc(), Application.id.asc()]


def search(session: Session, user: User, filters: Filters) -> Page:
    base = apply_filters(session, scope(user), filters, user)
    total = session.execute(select(func.count()).select_from(base.with_only_columns(Application.id).subquery())).scalar_one()
    pages = max((total + filters.per_page - 1) // filters.per_page, 1)
    filters.page = min(filters.page, pages)
    stmt = (base.add_columns(latest_eligibility())
            .outerjoin(Application.assigned_instructor)
            .options(contains_eager(Application.organisation), contains_eager(Application.call),
                     # the page shows the instructor's name only: not their roles, which ``User.roles``
                     # (selectin) would otherwise load in one more statement whenever a row of the page has an
                     # instructor, so the count of statements would depend on the data (bench/FINDINGS.md)
                     contains_eager(Application.assigned_instructor).lazyload(User.roles))
            .order_by(*_order(filters))
            .limit(filters.per_page).offset((filters.page - 1) * filters.per_page))
    rows = [(application, eligible) for application, eligible in session.execute(stmt).all()]
    conflicted = conflicted_ids(session, user, [a for a, _e in rows])
    return Page(rows, total, filters.page, filters.per_page, conflicted)


def conflicted_ids(session: Session, user: User, applications: list[Application]) -> set[int]:
    """The files among ``applications`` ``user`` is conflicted on (three queries, whatever their number)."""
    if not applications:
        return set()
    org_ids = {a.organisation_id for a in applications}
    flagged_orgs = set(session.execute(
        select(Membership.organisation_id).where(Membership.user_id == user.id, Membership.organisation_id.in_(org_ids))
    ).scalars())
    domain = conflicts.email_domain(user.email)
    if conflicts.domain_counts(domain):
        flagged_orgs |= set(session.execute(
            select(Membership.organisation_id).join(User, User.id == Membership.user_id)
            .where(Membership.organisation_id.in_(org_ids), func.lower(User.email).like("%@" + domain))
        ).scalars())
    declared = conflicts.declared_conflict_ids(session, user, [a.id for a in applications])
    return {a.id for a in applications if a.organisation_id in flagged_orgs} | declared


# --- the list as a spreadsheet ---------------------------------------------------

SIZE_LABELS = {"micro": lazy("Microentreprise"), "small": lazy("Petite entreprise"),
               "medium": lazy("Moyenne entreprise"), "large": lazy("Grande entreprise")}
EXPORT_BATCH = 1000


def export_headers() -> list[str]:
    return [_("Référence"), _("Projet"), _("Organisation"), _("SIRET"), _("Département"), _("Taille"), _("Appel"),
            _("État"), _("Éligibilité"), _("Montant demandé (€)"), _("Montant proposé (€)"), _("Déposé le"),
            _("Échéance"), _("Instructeur"), _("Conflit d'intérêts")]


# columns of ``export_headers`` → their number format in the workbook
EXPORT_FORMATS = {9: MONEY_FORMAT, 10: MONEY_FORMAT, 11: DATETIME_FORMAT, 12: DATE_FORMAT}


def export_statement(session: Session, user: User, filters: Filters) -> Select:
    """Every file of the list ``filters`` give (all pages, in the list's order), as plain columns;
    refused filters go to ``filters.errors``, as for the list."""
    instructor = aliased(User)
    base = apply_filters(session, scope(user), filters, user)
    return (base.with_only_columns(
        Application.id, Application.organisation_id, Application.reference, Application.title,
        Organisation.name.label("organisation"), Organisation.siret, Organisation.department,
        Organisation.size_category, Call.reference.label("call"), Application.state,
        latest_eligibility().label("eligible"), Application.requested_amount_cents, Application.proposed_amount_cents,
        Application.submitted_at, Application.due_date, instructor.name.label("instructor"))
        .outerjoin(instructor, instructor.id == Application.assigned_instructor_id)
        .order_by(*_order(filters)))


def export_rows(session: Session, user: User, stmt: Select, batch: int = EXPORT_BATCH):
    """The rows of ``export_statement`` as spreadsheet cells (amounts as ``Decimal`` euros, the deposit
    in Paris time), fetched ``batch`` at a time; the conflict marks of the list, three queries a batch."""
    from app.formatting import STATE_LABELS

    eligibility = {None: _("non décidé"), True: _("éligible"), False: _("non éligible")}
    sizes = {key: str(label) for key, label in SIZE_LABELS.items()}
    states = {key: str(label) for key, label in STATE_LABELS.items()}
    yes = _("oui")

    def cells(row: Any, conflicted: set[int]) -> list[Any]:
        submitted = row.submitted_at.astimezone(PARIS).replace(tzinfo=None) if row.submitted_at else None
        return [row.reference, row.title, row.organisation, row.siret, row.department or "",
                sizes.get(row.size_category or "", ""), row.call, states.get(row.state, row.state),
                eligibility[row.eligible], euros(row.requested_amount_cents) if row.requested_amount_cents is not None
                else None, euros(row.proposed_amount_cents) if row.proposed_amount_cents is not None else None,
                submitted, row.due_date, row.instructor or "", yes if row.id in conflicted else ""]

    pending: list[Any] = []
    for row in stream(session, stmt, batch):
        pending.append(row)
        if len(pending) == batch:
            marked = conflicted_ids(session, user, pending)
            yield from (cells(r, marked) for r in pending)
            pending = []
    marked = conflicted_ids(session, user, pending)
    yield from (cells(r, marked) for r in pending)


def export_filename(filters: Filters, extension: str, today: date | None = None) -> str:
    from app.models import utcnow

    call = "".join(c for c in filters.get("call") if c.isalnum() or c in "-_")
    day = today or utcnow().astimezone(PARIS).date()
    return "-".join(p for p in ("dossiers", call, day.isoformat()) if p) + f".{extension}"


def instructors(session: Session, user: User) -> list[User]:
    """The instructors of the calls in ``user``'s scope (for filters and assignment)."""
    stmt = (select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(RoleAssignment.role == "instructor", User.active.is_(True)).distinct().order_by(User.name, User.id))
    ids = staff_call_ids(user, WORKSPACE_ROLES)
    if ids is not None:
        stmt = stmt.where(or_(RoleAssignment.call_id.is_(None), RoleAssignment.call_id.in_(ids)))
    return list(session.execute(stmt).scalars())


def calls_in_scope(session: Session, user: User) -> list[Call]:
    stmt = select(Call).where(Call.status != "draft").order_by(Call.reference)
    ids = staff_call_ids(user, WORKSPACE_ROLES)
    if ids is not None:
        stmt = stmt.where(Call.id.in_(ids))
    return list(session.execute(stmt).scalars())


# --- saved views -----------------------------------------------------------

def save_view(session: Session, user: User, name: str, filters: Filters) -> SavedView:
    name = (name or "").strip()
    if not name:
        raise UserFacingError(_("Donnez un nom à la vue."))
    if len(name) > 80:
        raise UserFacingError(_("Le nom de la vue ne doit pas dépasser 80 caractères."))
    view = session.execute(select(SavedView).where(SavedView.user_id == user.id, SavedView.name == name)).scalar_one_or_none()
    values = {k: v for k, v in filters.values.items() if k in FILTER_KEYS}
    if view is None:
        view = SavedView(user_id=user.id, name=name, filters=values)
        session.add(view)
    else:
        view.filters = values
    session.flush()
    return view


def saved_views(session: Session, user: User) -> list[SavedView]:
    return list(session.execute(select(SavedView).where(SavedView.user_id == user.id).order_by(SavedView.name)).scalars())


def delete_view(session: Session, user: User, view_id: int) -> None:
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user.id:
        raise UserFacingError(_("Vue introuvable."), status=404)
    session.delete(view)
    session.flush()


# --- assignment, annotations -----------------------------------------------

def acting_role(user: User, application: Application) -> str | None:
    """The workspace role ``user`` acts in on the file: instructor of its call, else admin."""
    for role in WORKSPACE_ROLES:
        if user.has_role(role, application.call_id):
            return role
    return None


def assign(session: Session, application: Application, instructor: User | None, *, actor: User) -> None:
    """Put ``instructor`` (or nobody) in charge of the file; a conflicted instructor cannot be."""
    role = acting_role(actor, application)
    if role is None:
        raise UserFacingError(_("Vous n'êtes pas chargé de l'appel de ce dossier."), status=403)
    conflicts.require_no_conflict(session, actor, application)
    before = application.assigned_instructor_id
    if instructor is not None:
        if not instructor.active or not instructor.has_role("instructor", application.call_id):
            raise UserFacingError(_("%(name)s n'est pas instructeur de cet appel.", name=instructor.name))
        status = conflicts.conflict_status(session, instructor, application)
        if status.conflicted:
            raise UserFacingError(_("%(name)s est en conflit d'intérêts sur ce dossier.", name=instructor.name), status=403)
    after = instructor.id if instructor is not None else None
    if before == after:
        return
    application.assigned_instructor_id = after
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="application", object_id=application.reference,
                 action="assign_instructor", before={"instructor_id": before}, after={"instructor_id": after})


def annotate(session: Session, application: Application, body: str, *, actor: User, role: str) -> Annotation:
    body = (body or "").strip()
    if not body:
        raise UserFacingError(_("La note est vide."))
    if len(body) > 5000:
        raise UserFacingError(_("La note ne doit pas dépasser 5 000 caractères."))
    annotation = Annotation(application_id=application.id, author_id=actor.id, body=body)
    session.add(annotation)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="application", object_id=application.reference,
                 action="annotate", after={"annotation": annotation.id})
    return annotation


def annotations_of(session: Session, application: Application) -> list[Annotation]:
    from sqlalchemy.orm import joinedload

    return list(session.execute(
        select(Annotation).where(Annotation.application_id == application.id)
        .options(joinedload(Annotation.author)).order_by(Annotation.id)
    ).scalars())


# --- bulk actions ----------------------------------------------------------

@dataclass
class BulkResult:
    reference: str
    ok: bool
    message: str


def run_bulk(session: Session, user: User, application_ids: list[int],
             action: Callable[[Application, str], str | None]) -> list[BulkResult]:
    """Run ``action(application, role)`` on each file in its own transaction:
    each is re-checked (scope, conflict, then the operation's own rules through
    ``transition()``); a refusal rolls back that file only."""
    from sqlalchemy.orm.exc import StaleDataError

    from app.operations.transitions import TransitionRefused

    results: list[BulkResult] = []
    ids = sorted(set(application_ids))
    if not ids:
        raise UserFacingError(_("Cochez au moins un dossier."))
    if len(ids) > 200:
        raise UserFacingError(_("Une action groupée porte sur 200 dossiers au plus."))
    found = {a.id: a.reference for a in session.execute(scope(user).where(Application.id.in_(ids))).scalars()}
    session.commit()
    for application_id in ids:
        reference = found.get(application_id)
        if reference is None:
            results.append(BulkResult(f"#{application_id}", False, _("Dossier introuvable ou hors de votre périmètre.")))
            continue
        application = session.get(Application, application_id)
        role = acting_role(user, application)
        try:
            if role is None:
                raise UserFacingError(_("Vous n'êtes pas chargé de l'appel de ce dossier."), status=403)
            conflicts.require_no_conflict(session, user, application)
            message = action(application, role)
            session.commit()
        except TransitionRefused as exc:
            session.rollback()
            results.append(BulkResult(reference, False, " ".join(exc.messages)))
        except UserFacingError as exc:
            session.rollback()
            results.append(BulkResult(reference, False, exc.message))
        except StaleDataError:
            session.rollback()
            results.append(BulkResult(reference, False, _("Modifié par quelqu'un d'autre entre-temps.")))
        else:
            results.append(BulkResult(reference, True, message or _("Fait.")))
    return results


def bulk_assign(session: Session, user: User, application_ids: list[int], instructor: User | None) -> list[BulkResult]:
    def action(application: Application, role: str) -> str:
        assign(session, application, instructor, actor=user)
        return _("Confié à %(name)s.", name=instructor.name) if instructor else _("Plus aucun instructeur.")

    return run_bulk(session, user, application_ids, action)


def bulk_transition(session: Session, user: User, application_ids: list[int], name: str,
                    reason: str | None) -> list[BulkResult]:
    from app.operations.transitions import transition

    def action(application: Application, role: str) -> str:
        done = transition(session, application, name, actor=user, role=role, reason=reason)
        return _("%(from)s → %(to)s", **{"from": done.from_state, "to": done.to_state})

    return run_bulk(session, user, application_ids, action)


def bulk_corrections(session: Session, user: User, application_ids: list[int], *, keys: list[str], message: str,
                     due_date: date) -> list[BulkResult]:
    from app.operations import submission

    def action(application: Application, role: str) -> str:
        if role != "instructor":
            raise UserFacingError(_("Seul un instructeur de l'appel demande des compléments."), status=403)
        submission.request_corrections(session, application, user, keys=keys, message=message, due_date=due_date)
        return _("Compléments demandés.")

    return run_bulk(session, user, application_ids, action)


__all__ = [
    "BulkResult", "ELIGIBILITY_CHOICES", "Filters", "PAGE_SIZES", "Page", "SORTS", "WORKSPACE_ROLES",
    "annotate", "annotations_of", "assign", "bulk_assign", "bulk_corrections", "bulk_transition", "calls_in_scope",
    "conflicted_ids", "delete_view", "instructors", "save_view", "saved_views", "scope", "search", "stage_states",
]
