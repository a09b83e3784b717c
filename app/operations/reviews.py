"""Reviews, ranking and the instruction report (issue 6, points 4–7).

The arithmetic lives in the pure package ``scoring`` (grids, aggregation,
ranking, aid rates); this module reads and writes the records around it:

- a review per reviewer per file, draft → submitted; independent: a reviewer
  sees the others' submitted reviews only once their own is submitted, the
  file's lead instructor sees every submitted review; drafts are seen by their
  author only. Reopening a submitted review is for the lead instructor, audited;
- the ranking of a call against the budget its ledger account has left;
- the instruction report: eligible expenses line by line, the aid computed
  from the call's instrument and the company's size, the proposal.

Operations flush; the route commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, object_session

import scoring
from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.operations import conflicts, experts
from app.models import Application, Call, InstructionReport, Review, User, utcnow
from scoring.aid import AidError, AidScheme, scheme_rate

#: States in which a file is scored (reviews written, submitted, reopened).
REVIEW_STATES = ("instruction",)
#: States whose files are ranked against the budget left (not yet decided).
RANKED_STATES = ("instruction", "committee")
#: States in which the lead instructor may change the report and the proposal.
REPORT_STATES = ("instruction",)


class ReviewInvalid(UserFacingError):
    """The review cannot be saved or submitted; ``errors`` per criterion code."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(m for ms in self.errors.values() for m in ms), status=422)


# --- grids and roles -------------------------------------------------------------------------------


def grid_name_of(call: Call) -> str:
    """The name of the call's grid: the one chosen for the call (``Call.grid_name``),
    else the one named like its workflow."""
    return call.grid_name or call.workflow_name


def grid_for(call: Call) -> scoring.Grid:
    """The call's scoring grid, ``scoring/grids/<grid_name_of(call)>.yaml``: its criteria,
    aggregation, normalisation, disagreement threshold, tie-breakers and aid scheme.
    Two calls on one workflow may so score with different grids."""
    try:
        return scoring.load_grid(grid_name_of(call))
    except scoring.GridError:
        raise UserFacingError(_("Aucune grille d'évaluation n'est définie pour cet appel."), status=404) from None


def aid_scheme_problem(call: Call, grid: scoring.Grid) -> str | None:
    """Why the grid's aid scheme disagrees with the call's State-aid regime
    (``Call.aid_regime``, the single source of the regime: the ledger records it),
    or None when they agree or the grid computes no aid."""
    if grid.aid is None:
        return None
    problem = scoring.regime_problem(grid.aid, call.aid_regime)
    if problem is None:
        return None
    return _("Le régime d'aide de l'appel et sa grille ne concordent pas (%(problem)s). L'aide n'est pas calculée tant "
             "qu'un administrateur ne les a pas accordés.", problem=problem)


def is_lead(user: User, application: Application) -> bool:
    """The file's lead instructor: its assigned instructor, an administrator,
    or, while nobody is assigned, any instructor of the call."""
    if user.has_role("admin", application.call_id):
        return True
    if application.assigned_instructor_id is not None:
        return application.assigned_instructor_id == user.id
    return user.has_role("instructor", application.call_id)


def reviewer_role(user: User, application: Application) -> str | None:
    """The role ``user`` scores ``application`` in ("instructor" or "expert"), or None.
    An expert scores only the files they hold an active invitation on."""
    if user.has_role("instructor", application.call_id):
        return "instructor"
    session = object_session(application)
    if (user.has_role("expert", application.call_id) and session is not None
            and experts.active_invitation(session, user, application) is not None):
        return "expert"
    return None


# --- reviews -----------------------------------------------------------------------------------------


def review_of(session: Session, application: Application, user: User) -> Review | None:
    return session.execute(
        select(Review).where(Review.application_id == application.id, Review.reviewer_id == user.id)
    ).scalar_one_or_none()


def submitted_count(session: Session, application: Application) -> int:
    return session.execute(
        select(func.count(Review.id)).where(Review.application_id == application.id, Review.status == "submitted")
    ).scalar_one()


def visible_reviews(session: Session, application: Application, viewer: User) -> list[Review]:
    """The reviews ``viewer`` may read: their own (draft or not); the others'
    submitted ones when the viewer is the lead instructor or has submitted
    their own. Nobody reads someone else's draft."""
    reviews = list(session.execute(
        select(Review).where(Review.application_id == application.id).order_by(Review.submitted_at, Review.id)
    ).scalars())
    own = next((r for r in reviews if r.reviewer_id == viewer.id), None)
    sees_others = is_lead(viewer, application) or (own is not None and own.status == "submitted")
    return [r for r in reviews if r.reviewer_id == viewer.id or (sees_others and r.status == "submitted")]


def _clean_scores(grid: scoring.Grid, raw: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Form values (text) to integer scores; blanks are left out."""
    scores: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for criterion in grid.criteria:
        value = raw.get(criterion.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            scores[criterion.code] = int(str(value).strip())
        except ValueError:
            errors[criterion.code] = [_("La note de « %(label)s » doit être un nombre entier.", label=criterion.label)]
    return scores, errors


def save_review(session: Session, application: Application, reviewer: User, *, scores: Mapping[str, Any],
                comments: Mapping[str, str], opinion: str = "", submit: bool = False) -> Review:
    """Create or update ``reviewer``'s draft; with ``submit`` the review must be
    complete (every criterion, comments under the thresholds) and is submitted."""
    role = reviewer_role(reviewer, application)
    if role is None:
        raise UserFacingError(_("Vous n'êtes pas expert invité sur ce dossier ni instructeur de cet appel."), status=403)
    conflicts.require_no_conflict(session, reviewer, application, role=role)
    if application.state not in REVIEW_STATES:
        raise UserFacingError(_("Ce dossier n'est pas en cours d'expertise : il ne peut plus être noté."), status=409)
    grid = grid_for(application.call)
    review = review_of(session, application, reviewer)
    if review is not None and review.status == "submitted":
        raise UserFacingError(
            _("Votre avis est déjà transmis : seul l'instructeur référent du dossier peut le rouvrir."), status=409)
    clean, errors = _clean_scores(grid, scores)
    if not errors:
        # A draft may be partial, but what is given must be on the scale.
        problems = scoring.validate_review(grid, clean, comments) if submit else {
            code: msgs for code, msgs in scoring.validate_review(grid, clean, comments).items() if code in clean}
        errors.update(problems)
    if errors:
        raise ReviewInvalid(errors)
    comments_clean = {c.code: (comments.get(c.code) or "").strip() for c in grid.criteria if (comments.get(c.code) or "").strip()}
    opinion = (opinion or "").strip()
    if submit and not opinion:
        raise ReviewInvalid({"opinion": [_("Rédigez votre avis général sur le dossier avant de le transmettre.")]})
    if review is None:
        review = Review(application_id=application.id, reviewer_id=reviewer.id, reviewer_role=role,
                        grid_name=grid.name, status="draft")
        session.add(review)
    review.scores = clean
    review.comments = comments_clean
    review.opinion = opinion
    review.grid_name = grid.name
    if submit:
        review.status = "submitted"
        review.submitted_at = utcnow()
    session.flush()
    audit.record(session, actor=reviewer, role=role, object_type="review", object_id=review.id,
                 action="submit_review" if submit else "save_review_draft",
                 after={"application": application.reference, "status": review.status})
    return review


def reopen_review(session: Session, review: Review, actor: User, reason: str) -> Review:
    """Send a submitted review back to draft (lead instructor only, with a reason)."""
    application = review.application
    if not is_lead(actor, application):
        raise UserFacingError(_("Seul l'instructeur référent du dossier peut rouvrir un avis transmis."), status=403)
    if review.status != "submitted":
        raise UserFacingError(_("Cet avis n'est pas transmis : il n'y a rien à rouvrir."), status=409)
    if application.state not in REVIEW_STATES:
        raise UserFacingError(_("Ce dossier n'est plus en cours d'expertise : ses avis ne peuvent plus être rouverts."),
                              status=409)
    reason = (reason or "").strip()
    if not reason:
        raise UserFacingError(_("Indiquez pourquoi vous rouvrez cet avis."))
    review.status = "draft"
    review.submitted_at = None
    review.reopen_count += 1
    session.flush()
    audit.record(session, actor=actor, role="admin" if actor.has_role("admin", application.call_id) else "instructor",
                 object_type="review", object_id=review.id, action="reopen_review",
                 before={"status": "submitted"}, after={"status": "draft", "application": application.reference,
                                                        "reviewer": review.reviewer_id}, reason=reason)
    return review


def file_score(session: Session, application: Application) -> scoring.FileScore | None:
    """The file's aggregate over its submitted reviews (normalisation over the whole call)."""
    return call_scores(session, application.call).get(application.id)


def call_scores(session: Session, call: Call) -> dict[int, scoring.FileScore]:
    """Aggregated scores of the call's ranked files (``RANKED_STATES``), by file id."""
    grid = grid_for(call)
    rows = session.execute(
        select(Review.application_id, Review.reviewer_id, Review.scores)
        .join(Application, Application.id == Review.application_id)
        .where(Application.call_id == call.id, Application.state.in_(RANKED_STATES), Review.status == "submitted",
               Review.grid_name == grid.name)
    ).all()
    return scoring.aggregate(grid, [scoring.Review(a, r, s) for a, r, s in rows])


# --- ranking -----------------------------------------------------------------------------------------


#: Why a ranking line's score and details are hidden from its viewer.
MASK_CONFLICT = "conflict_of_interest"
MASK_PENDING = "review_pending"


@dataclass(frozen=True)
class RankingLine:
    application: Application
    item: scoring.RankedItem
    score: scoring.FileScore
    #: None, or why the viewer may not see this file's score and details
    #: (``MASK_CONFLICT``: conflicted on the file; ``MASK_PENDING``: their own review is not submitted).
    masked: str | None = None


@dataclass(frozen=True)
class CallRanking:
    call: Call
    grid: scoring.Grid
    budget_available_cents: int
    lines: list[RankingLine]


def budget_available(session: Session, call: Call, ranked_ids: list[int] | None = None) -> int:
    """What the ranking can distribute: the call's ledger account's limit −
    reserved − committed (the call's budget when its account does not exist
    yet), plus what is still reserved for the ranked files themselves (a file
    at committee holds a reservation; ranking it again must not count it twice)."""
    from app.ledger.queries import balances
    from app.models import LedgerAccount

    accounts = balances(session, kinds=("call",), call_id=call.id)
    if not accounts or accounts[0].available_cents is None:
        return call.budget_cents
    held = 0
    if ranked_ids:
        held = session.execute(
            select(func.coalesce(func.sum(LedgerAccount.reserved_cents), 0))
            .where(LedgerAccount.key.in_([f"file:{i}" for i in ranked_ids]))
        ).scalar_one()
    return max(accounts[0].available_cents + int(held), 0)


def masked_for(session: Session, viewer: User, applications: list[Application]) -> dict[int, str]:
    """The files of a list whose score and details ``viewer`` may not see, and why:
    a conflict of interest (automatic flag or declared link), else a review of theirs
    on the file not yet submitted (a draft, a reopened review, or an expert
    invitation not yet answered): reviews stay independent until submitted.
    A fixed number of queries, whatever the number of files."""
    if not applications:
        return {}
    ids = [a.id for a in applications]
    masked = dict.fromkeys(conflicts.conflicted_ids(session, viewer, applications), MASK_CONFLICT)
    statuses = dict(session.execute(
        select(Review.application_id, Review.status).where(Review.reviewer_id == viewer.id, Review.application_id.in_(ids))
    ).all())
    from app.models import ExpertInvitation

    invited = set(session.execute(
        select(ExpertInvitation.application_id).where(ExpertInvitation.expert_id == viewer.id,
                                                      ExpertInvitation.application_id.in_(ids),
                                                      ExpertInvitation.revoked_at.is_(None))
    ).scalars())
    for i in ids:
        if i in masked:
            continue
        status = statuses.get(i)
        if (status is not None and status != "submitted") or (status is None and i in invited):
            masked[i] = MASK_PENDING
    return masked


def call_ranking(session: Session, call: Call, viewer: User | None = None) -> CallRanking:
    """The call's scored files in rank order, with the funding line.

    The ranks and the funding line are always those of the whole call. With a
    ``viewer``, a line they may not see in full (``masked_for``) keeps its rank and
    reference but is marked ``masked``: the page and the API then show neither its
    score nor any detail (organisation, title, reviews, amount, funding status)."""
    grid = grid_for(call)
    scores = call_scores(session, call)
    applications = {a.id: a for a in session.execute(
        select(Application).where(Application.id.in_(list(scores))).options(joinedload(Application.organisation))
    ).scalars()} if scores else {}
    requested = {i: a.requested_amount_cents for i, a in applications.items() if a.requested_amount_cents > 0}
    proposed = {i: a.proposed_amount_cents for i, a in applications.items() if a.proposed_amount_cents}
    # A file with no amount at all cannot be placed against the budget.
    scores = {i: s for i, s in scores.items() if i in requested or i in proposed or s.eliminated}
    budget = budget_available(session, call, list(scores))
    items = scoring.rank(grid, scores, requested, budget, proposed)
    masked = masked_for(session, viewer, [applications[i] for i in scores]) if viewer is not None else {}
    return CallRanking(call, grid, budget, [RankingLine(applications[i.file_id], i, scores[i.file_id], masked.get(i.file_id))
                                            for i in items])


# --- instruction report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpenseLine:
    index: int
    label: str
    amount_cents: int
    decision: str
    eligible_cents: int
    reason: str


@dataclass(frozen=True)
class DeMinimisRoom:
    """The single undertaking's de minimis count at the proposal (DOMAIN.md §5):
    what Guichet already counted (``app.ledger.de_minimis_counted``, rolling three
    years), what the applicant declared (``aides_de_minimis_3_ans``), the ceiling."""

    siren: str
    counted_cents: int
    declared_cents: int
    ceiling_cents: int

    @property
    def room_cents(self) -> int:
        """What can still be granted under the ceiling (0 once it is reached)."""
        return max(self.ceiling_cents - self.counted_cents - self.declared_cents, 0)


@dataclass(frozen=True)
class AidComputation:
    scheme: AidScheme | None
    size: str | None
    eligible_cents: int
    rate_percent: Decimal | None
    uncapped_cents: int | None
    computed_cents: int | None
    max_aid_cents: int | None
    problem: str | None
    #: The call's State-aid regime (``Call.aid_regime``), the one the ledger records.
    regime: str | None = None
    #: Under de minimis: the undertaking's count; None otherwise.
    de_minimis: DeMinimisRoom | None = None

    @property
    def capped(self) -> bool:
        return self.computed_cents is not None and self.uncapped_cents is not None and self.computed_cents < self.uncapped_cents

    @property
    def proposable_cents(self) -> int | None:
        """The most the instructor may propose: the aid computed, and under de minimis
        no more than the room left under the undertaking's ceiling."""
        if self.computed_cents is None:
            return None
        if self.de_minimis is not None:
            return min(self.computed_cents, self.de_minimis.room_cents)
        return self.computed_cents

    @property
    def crosses_de_minimis(self) -> bool:
        """The aid computed would cross the de minimis ceiling."""
        return (self.de_minimis is not None and self.computed_cents is not None
                and self.computed_cents > self.de_minimis.room_cents)


def report_of(session: Session, application: Application) -> InstructionReport | None:
    return session.execute(
        select(InstructionReport).where(InstructionReport.application_id == application.id)
    ).scalar_one_or_none()


def _expense_rows(application: Application) -> list[tuple[str, int]]:
    """(label, amount in cents) of each row of the form's expenses table."""
    if application.form_version is None:
        return []
    from app.callforms import load_definition
    from app.callforms.values import display_value

    definition = load_definition(application.form_version.definition)
    field = definition.budget_field("expenses")
    if field is None or not field.money_columns:
        return []
    money_key = field.money_columns[0].key
    rows = (application.answers or {}).get(field.key) or []
    result = []
    for row in rows if isinstance(rows, list) else []:
        amount = row.get(money_key)
        parts = [display_value(c, row.get(c.key), "fr") for c in field.columns
                 if c.key != money_key and row.get(c.key) not in (None, "")]
        result.append((" — ".join(str(p) for p in parts), amount if isinstance(amount, int) else 0))
    return result


def expense_lines(application: Application, report: InstructionReport | None) -> list[ExpenseLine]:
    """Every expense declared, with the instructor's decision (accepted in full by default)."""
    decisions = (report.expense_decisions if report else None) or {}
    lines = []
    for index, (label, amount) in enumerate(_expense_rows(application)):
        d = decisions.get(str(index)) or {}
        decision = d.get("decision", "accepted")
        eligible = amount if decision == "accepted" else int(d.get("eligible_cents", 0))
        lines.append(ExpenseLine(index, label, amount, decision, eligible, d.get("reason", "")))
    return lines


def _de_minimis_room(session: Session | None, application: Application) -> DeMinimisRoom:
    from app.ledger import de_minimis_counted
    from app.ledger.rules import DE_MINIMIS_CEILING_CENTS
    from app.operations.eligibility import DE_MINIMIS_KEY

    siren = application.organisation.siren
    counted = de_minimis_counted(session, siren) if session is not None else 0
    declared = (application.answers or {}).get(DE_MINIMIS_KEY)
    declared = declared if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0 else 0
    return DeMinimisRoom(siren, int(counted), declared, DE_MINIMIS_CEILING_CENTS)


def _de_minimis_problem(room: DeMinimisRoom, computed_cents: int) -> str | None:
    from app.formatting import money

    if computed_cents <= room.room_cents:
        return None
    facts = dict(siren=room.siren, counted=money(room.counted_cents), declared=money(room.declared_cents),
                 ceiling=money(room.ceiling_cents), aid=money(computed_cents))
    if room.room_cents == 0:
        return _("Plafond de minimis atteint : l'entreprise unique (SIREN %(siren)s) a déjà reçu %(counted)s d'aides de "
                 "minimis comptées par Guichet et en déclare %(declared)s sur trois ans glissants, pour un plafond de "
                 "%(ceiling)s. Aucune aide de minimis ne peut lui être accordée.", **facts)
    return _("Plafond de minimis : avec une aide de %(aid)s, l'entreprise unique (SIREN %(siren)s) dépasserait le "
             "plafond de %(ceiling)s sur trois ans glissants (aides comptées par Guichet : %(counted)s, aides déclarées : "
             "%(declared)s). Une aide qui franchit le plafond ne peut pas être accordée, pas même en partie : la "
             "proposition doit tenir sous le plafond, soit au plus %(room)s.", room=money(room.room_cents), **facts)


def compute_aid(application: Application, report: InstructionReport | None) -> AidComputation:
    """Eligible costs × the rate of the call's instrument for the company's size, capped by the call.

    The regime is the call's (``Call.aid_regime``): the grid's aid scheme must agree
    with it, else nothing is computed. Under de minimis, the undertaking's aid
    already counted (Guichet's ledger and the applicant's declaration) limits the
    proposal: an aid crossing the 300 000 € ceiling cannot be granted, not even in part."""
    call = application.call
    grid = grid_for(call)
    eligible = sum(line.eligible_cents for line in expense_lines(application, report))
    size = application.organisation.size_category
    cap = call.max_aid_cents
    regime = call.aid_regime
    scheme = grid.aid
    if scheme is None:
        return AidComputation(None, size, eligible, None, None, None, cap,
                              _("L'appel ne précise pas son régime d'aide : le montant n'est pas calculé."), regime)
    mismatch = aid_scheme_problem(call, grid)
    if mismatch is not None:
        return AidComputation(scheme, size, eligible, None, None, None, cap, mismatch, regime)
    if size is None:
        return AidComputation(scheme, None, eligible, None, None, None, cap,
                              _("La taille de l'entreprise est inconnue : le taux ne peut pas être déterminé."), regime)
    collaboration = scheme.collaboration and bool(report and report.collaboration)
    effective = AidScheme(scheme.instrument, collaboration, scheme.rate_percent)
    try:
        rate = scheme_rate(effective, size)
    except AidError as exc:
        return AidComputation(scheme, size, eligible, None, None, 0, cap, str(exc), regime)
    computed = scoring.aid_amount(eligible, rate, cap)
    room = _de_minimis_room(object_session(application), application) if regime == "de_minimis" else None
    problem = _de_minimis_problem(room, computed) if room is not None else None
    return AidComputation(scheme, size, eligible, rate, scoring.aid_amount(eligible, rate), computed, cap, problem,
                          regime, room)


def _require_lead(application: Application, actor: User) -> None:
    if not is_lead(actor, application):
        raise UserFacingError(_("Seul l'instructeur référent du dossier peut modifier le rapport d'instruction."),
                              status=403)
    if application.state not in REPORT_STATES:
        raise UserFacingError(_("Le rapport ne se modifie que pendant l'instruction du dossier."), status=409)


def save_report(session: Session, application: Application, actor: User, *,
                decisions: Mapping[int, tuple[str, int | None, str]], collaboration: bool = False,
                opinion: str = "") -> InstructionReport:
    """Record the decision on each expense line (accepted, reduced with the
    eligible amount, refused; a reason unless accepted) and the opinion."""
    _require_lead(application, actor)
    rows = _expense_rows(application)
    errors: list[str] = []
    stored: dict[str, dict[str, Any]] = {}
    for index, (label, amount) in enumerate(rows):
        decision, eligible, reason = decisions.get(index, ("accepted", None, ""))
        reason = (reason or "").strip()
        n = index + 1
        if decision not in ("accepted", "reduced", "refused"):
            errors.append(_("Ligne %(n)s : choisissez retenue, réduite ou refusée.", n=n))
            continue
        if decision == "accepted":
            stored[str(index)] = {"decision": "accepted", "eligible_cents": amount, "reason": reason}
            continue
        if not reason:
            errors.append(_("Ligne %(n)s : indiquez le motif de la réduction ou du refus.", n=n))
        if decision == "refused":
            stored[str(index)] = {"decision": "refused", "eligible_cents": 0, "reason": reason}
        elif eligible is None or not 0 < eligible < amount:
            errors.append(_("Ligne %(n)s : le montant retenu doit être positif et inférieur au montant présenté.", n=n))
        else:
            stored[str(index)] = {"decision": "reduced", "eligible_cents": eligible, "reason": reason}
    if errors:
        raise UserFacingError(" ".join(errors), status=422)
    report = report_of(session, application)
    before = None
    if report is None:
        report = InstructionReport(application_id=application.id)
        session.add(report)
    else:
        before = {"expense_decisions": report.expense_decisions, "collaboration": report.collaboration}
    report.expense_decisions = stored
    report.collaboration = bool(collaboration)
    report.opinion = (opinion or "").strip()
    report.updated_by_id = actor.id
    session.flush()
    aid = compute_aid(application, report)
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="save_instruction_report", before=before,
                 after={"expense_decisions": stored, "collaboration": report.collaboration,
                        "eligible_cents": aid.eligible_cents, "computed_aid_cents": aid.computed_cents})
    return report


def propose_amount(session: Session, application: Application, actor: User, amount_cents: int,
                   reason: str | None = None) -> Application:
    """The lead instructor's proposal: positive and at most the aid computed."""
    _require_lead(application, actor)
    aid = compute_aid(application, report_of(session, application))
    if aid.computed_cents is None:
        raise UserFacingError(aid.problem or _("Le montant de l'aide ne peut pas être calculé."), status=422)
    if amount_cents <= 0:
        raise UserFacingError(_("Le montant proposé doit être positif."), status=422)
    if amount_cents > aid.computed_cents:
        from app.formatting import money

        raise UserFacingError(_("Le montant proposé dépasse l'aide calculée (%(max)s).", max=money(aid.computed_cents)),
                              status=422)
    if aid.de_minimis is not None and amount_cents > aid.de_minimis.room_cents:
        raise UserFacingError(_de_minimis_problem(aid.de_minimis, amount_cents) or "", status=422)
    before = application.proposed_amount_cents
    application.proposed_amount_cents = amount_cents
    session.flush()
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="propose_amount", before={"proposed_amount_cents": before},
                 after={"proposed_amount_cents": amount_cents, "computed_aid_cents": aid.computed_cents,
                        "aid_regime": aid.regime,
                        **({"de_minimis_counted_cents": aid.de_minimis.counted_cents,
                            "de_minimis_declared_cents": aid.de_minimis.declared_cents} if aid.de_minimis else {})},
                 reason=(reason or "").strip() or None)
    return application


# --- the report as a PDF -----------------------------------------------------------------------------

REPORT_KIND = "instruction_report"
DECISION_LABELS = {"accepted": "retenue", "reduced": "réduite", "refused": "refusée"}
SIZE_NAMES = {"micro": "micro-entreprise", "small": "petite entreprise", "medium": "moyenne entreprise",
              "large": "grande entreprise"}


def render_report(session: Session, application: Application) -> bytes:
    """« Rapport d'instruction »: eligibility, scores, opinions, expenses, aid, proposal."""
    from reportlab.lib.units import mm

    from app.documents import Layout
    from app.formatting import local_datetime, money, number
    from app.operations import eligibility as eligibility_ops

    layout = Layout("Rapport d'instruction", application.reference)
    org, call = application.organisation, application.call
    grid = grid_for(call)
    report = report_of(session, application)
    story: list = [layout.p("Rapport d'instruction", layout.h1)]
    story.append(layout.table([
        ["Référence du dossier", application.reference],
        ["Organisation", f"{org.name} — SIRET {org.siret}"],
        ["Appel", f"{call.title} ({call.reference})"],
        ["Projet", application.title],
        ["Montant demandé", money(application.requested_amount_cents, "fr")],
        ["Déposé le", local_datetime(application.submitted_at, "fr") if application.submitted_at else "—"],
    ], [55 * mm, 119 * mm]))

    story.append(layout.p("Éligibilité", layout.h2))
    outcomes = {"pass": "conforme", "fail": "non conforme", "review": "à examiner"}
    results = eligibility_ops.results_of(session, application)
    if results:
        rows: list[list[object]] = [["Contrôle", "Résultat", "Motif"]]
        rows += [[r.check_name, outcomes.get(r.outcome, r.outcome), r.reason] for r in results]
        story.append(layout.table(rows, [50 * mm, 28 * mm, 96 * mm], header=True))
    else:
        story.append(layout.p("Les contrôles n'ont pas été lancés."))
    decision = eligibility_ops.latest_decision(session, application)
    if decision:
        story.append(layout.p(f"Décision : {'éligible' if decision.eligible else 'non éligible'}"
                              + (f" — {decision.justification}" if decision.justification else "")))

    story.append(layout.p("Notes", layout.h2))
    score = file_score(session, application)
    if score is None:
        story.append(layout.p("Aucun avis transmis."))
    else:
        story.append(layout.p(f"Note agrégée : {number(score.score, 'fr')} / 20 ({score.n_reviews} avis, "
                              f"fonction « {grid.aggregation.name} »)"
                              + (" — désaccord entre les experts" if score.disagreement else "")
                              + (" — éliminé" if score.eliminated else "")))
        rows = [["Critère", "Poids", "Note agrégée"]]
        rows += [[c.label, number(c.weight, "fr"), number(score.criteria[c.code], "fr")] for c in grid.criteria]
        story.append(layout.table(rows, [110 * mm, 24 * mm, 40 * mm], header=True))

    story.append(layout.p("Avis des experts", layout.h2))
    submitted = [r for r in session.execute(
        select(Review).where(Review.application_id == application.id, Review.status == "submitted")
        .order_by(Review.submitted_at)).scalars()]
    for review in submitted:
        total = number(scoring.review_total(grid, review.scores), "fr") if review.grid_name == grid.name else "—"
        story.append(layout.p(f"{review.reviewer.name} ({'expert' if review.reviewer_role == 'expert' else 'instructeur'})"
                              f" — {total} / 20", layout.label))
        story.append(layout.p(review.opinion or "—", layout.answer))
    if not submitted:
        story.append(layout.p("Aucun avis transmis."))

    story.append(layout.p("Dépenses éligibles", layout.h2))
    lines = expense_lines(application, report)
    if lines:
        rows = [["Dépense", "Présenté", "Décision", "Retenu", "Motif"]]
        rows += [[line.label, money(line.amount_cents, "fr"), DECISION_LABELS[line.decision],
                  money(line.eligible_cents, "fr"), line.reason] for line in lines]
        story.append(layout.table(rows, [58 * mm, 26 * mm, 18 * mm, 26 * mm, 46 * mm], header=True))
    else:
        story.append(layout.p("Le formulaire ne comporte pas de tableau de dépenses."))

    story.append(layout.p("Aide calculée", layout.h2))
    aid = compute_aid(application, report)
    rows = [["Dépenses éligibles", money(aid.eligible_cents, "fr")],
            ["Régime d'aide d'État", aid.regime or "—"],
            ["Instrument", aid.scheme.label if aid.scheme else "—"],
            ["Taille de l'entreprise", SIZE_NAMES.get(aid.size or "", "—")],
            ["Taux", f"{number(aid.rate_percent, 'fr')} %" if aid.rate_percent is not None else "—"],
            ["Plafond de l'appel", money(aid.max_aid_cents, "fr")],
            ["Aide calculée", money(aid.computed_cents, "fr")]]
    if aid.de_minimis is not None:
        rows += [["Aides de minimis sur 3 ans", f"{money(aid.de_minimis.counted_cents, 'fr')} comptées par Guichet, "
                                                f"{money(aid.de_minimis.declared_cents, 'fr')} déclarées"],
                 ["Reste sous le plafond de minimis", money(aid.de_minimis.room_cents, "fr")]]
    rows.append(["Montant proposé", money(application.proposed_amount_cents, "fr")])
    story.append(layout.table(rows, [55 * mm, 119 * mm]))
    if aid.problem:
        story.append(layout.p(aid.problem))
    story.append(layout.p("Avis de l'instructeur", layout.h2))
    story.append(layout.p((report.opinion if report else "") or "—"))
    return layout.build(story)


def generate_report_pdf(session: Session, application: Application, actor: User):
    """Render the report now and store it as the next version (``Document``)."""
    from app.documents import store_document

    if not is_lead(actor, application):
        raise UserFacingError(_("Seul l'instructeur référent du dossier peut éditer le rapport d'instruction."),
                              status=403)
    return store_document(session, application, REPORT_KIND, render_report(session, application), actor.id)
