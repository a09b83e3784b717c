"""Reserve, release, commit, pay, decommit and reverse: see ``app/ledger/__init__.py``
for the design. Every function flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import PARIS, money
from app.formatting import translate as _
from app.ledger import rules
from app.models import Application, Axis, Call, LedgerAccount, LedgerEntry, LedgerLeg, Plan, utcnow

DE_MINIMIS_ANSWER_KEY = "aides_de_minimis_3_ans"


class LedgerRefused(UserFacingError):
    """The operation is refused; nothing was written. ``envelope`` names the
    level that refused it (plan, year, axis, call, undertaking, file) when one did."""

    status = 422

    def __init__(self, message: str, envelope: str | None = None, status: int | None = None) -> None:
        super().__init__(message, status)
        self.envelope = envelope


# --- accounts -----------------------------------------------------------------

def _get_or_create(session: Session, key: str, build: Callable[[], LedgerAccount]) -> LedgerAccount:
    account = session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one_or_none()
    if account is not None:
        return account
    account = build()
    account.key = key
    try:
        with session.begin_nested():  # another transaction may create it first
            session.add(account)
            session.flush()
    except IntegrityError:
        return session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one()
    return account


def plan_account(session: Session, plan: Plan) -> LedgerAccount:
    return _get_or_create(session, f"plan:{plan.id}", lambda: LedgerAccount(
        kind="plan", label=plan.name[:255], plan_id=plan.id, limit_cents=plan.envelope_cents))


def year_account(session: Session, plan: Plan, year: int) -> LedgerAccount:
    """The year's account; within the plan's period it is capped by the yearly
    ceiling. A payment after the period lands on an uncapped year account."""
    parent = plan_account(session, plan)
    within = plan.start_year <= year <= plan.end_year
    return _get_or_create(session, f"year:{plan.id}:{year}", lambda: LedgerAccount(
        kind="year", label=f"{plan.name[:200]} — {year}", plan_id=plan.id, year=year, parent_id=parent.id,
        limit_cents=plan.yearly_ceiling_cents if within else None))


def axis_account(session: Session, axis: Axis) -> LedgerAccount:
    """Axes carry no budget in the plan's data: uncapped until ``set_limit``."""
    parent = plan_account(session, axis.plan)
    return _get_or_create(session, f"axis:{axis.id}", lambda: LedgerAccount(
        kind="axis", label=f"Axe {axis.number} — {axis.title}"[:255], plan_id=axis.plan_id, axis_id=axis.id,
        parent_id=parent.id))


def call_account(session: Session, call: Call) -> LedgerAccount:
    parent = axis_account(session, call.axis)
    return _get_or_create(session, f"call:{call.id}", lambda: LedgerAccount(
        kind="call", label=f"{call.reference} — {call.title}"[:255], plan_id=call.axis.plan_id, axis_id=call.axis_id,
        call_id=call.id, parent_id=parent.id, limit_cents=call.budget_cents))


def _file_account_row(application: Application, parent: LedgerAccount) -> LedgerAccount:
    call = application.call
    return LedgerAccount(key=f"file:{application.id}", kind="file", label=application.reference,
                         plan_id=parent.plan_id, axis_id=call.axis_id, call_id=call.id, application_id=application.id,
                         parent_id=parent.id, limit_cents=call.max_aid_cents)


def file_account(session: Session, application: Application) -> LedgerAccount:
    """A file's account, capped by its call's maximum aid per file."""
    parent = call_account(session, application.call)
    return _get_or_create(session, f"file:{application.id}", lambda: _file_account_row(application, parent))


def undertaking_account(session: Session, siren: str) -> LedgerAccount:
    """The single undertaking's de minimis account, keyed by SIREN."""
    return _get_or_create(session, f"undertaking:{siren}", lambda: LedgerAccount(
        kind="undertaking", label=f"Entreprise unique SIREN {siren}", siren=siren,
        rolling_limit_cents=rules.DE_MINIMIS_CEILING_CENTS, rolling_years=rules.DE_MINIMIS_YEARS))


def ensure_accounts(session: Session, plan: Plan, *, actor: Any | None = None, role: str | None = None) -> int:
    """Create the missing accounts of ``plan``: the plan, each year of its period,
    its axes, their calls, and the files past the draft stage. Existing accounts
    are left as they are (limits change through ``set_limit``). Returns how many
    were created; audited when any was."""
    before = session.execute(select(func.count(LedgerAccount.id))).scalar_one()
    plan_account(session, plan)
    for year in range(plan.start_year, plan.end_year + 1):
        year_account(session, plan, year)
    for axis in plan.axes:
        axis_account(session, axis)
        for call in axis.calls:
            have = set(session.execute(
                select(LedgerAccount.application_id).where(LedgerAccount.call_id == call.id, LedgerAccount.kind == "file")
            ).scalars())
            files = session.execute(
                select(Application).where(Application.call_id == call.id, Application.state != "draft")
                .order_by(Application.id)
            ).scalars()
            parent = call_account(session, call)
            new = [_file_account_row(application, parent) for application in files if application.id not in have]
            if new:
                try:
                    with session.begin_nested():
                        session.add_all(new)
                        session.flush()
                except IntegrityError:  # created meanwhile by an operation: one by one
                    for row in new:
                        file_account(session, session.get(Application, row.application_id))
    created = session.execute(select(func.count(LedgerAccount.id))).scalar_one() - before
    if created:
        audit.record(session, actor=actor, role=_role(actor, role), object_type="plan",
                     object_id=plan.id, action="ledger_accounts", after={"created": created})
    return created


def set_limit(session: Session, account: LedgerAccount, limit_cents: int | None, *, actor: Any | None,
              role: str | None = None, reason: str | None = None) -> LedgerAccount:
    """Change an account's cap (an axis budget, a revised call budget or plan
    envelope, a year's ceiling). Refused when what is already reserved and
    committed would exceed it. A plan's or a call's cap is also written on the
    plan (envelope) or the call (budget). Audited; flushes."""
    if limit_cents is not None and (not isinstance(limit_cents, int) or isinstance(limit_cents, bool) or limit_cents < 0):
        raise LedgerRefused(_("Le plafond doit être un montant positif en centimes."))
    _lock_ledger(session)
    old = session.execute(select(LedgerAccount.limit_cents).where(LedgerAccount.id == account.id)).scalar_one()
    stmt = update(LedgerAccount).where(LedgerAccount.id == account.id)
    if limit_cents is not None:
        stmt = stmt.where(LedgerAccount.reserved_cents + LedgerAccount.committed_cents <= limit_cents)
    result = session.execute(stmt.values(limit_cents=limit_cents).execution_options(synchronize_session=False))
    session.expire(account)
    if result.rowcount != 1:
        used = account.reserved_cents + account.committed_cents
        raise LedgerRefused(
            _("Plafond refusé : %(label)s a déjà %(used)s réservés ou engagés, plus que %(limit)s.",
              label=account.label, used=money(used), limit=money(limit_cents)),
            envelope=account.kind,
        )
    # The plan's envelope and a call's budget are also read from the plan and the call: kept equal.
    if account.kind == "plan" and limit_cents is not None:
        session.get(Plan, account.plan_id).envelope_cents = limit_cents
    elif account.kind == "call" and limit_cents is not None:
        session.get(Call, account.call_id).budget_cents = limit_cents
    audit.record(session, actor=actor, role=_role(actor, role), object_type="ledger_account",
                 object_id=account.key, action="ledger_set_limit", before={"limit_cents": old},
                 after={"limit_cents": limit_cents}, reason=reason)
    return account


def set_credits(session: Session, plan: Plan, year: int, credit_cents: int | None, *, actor: Any | None,
                role: str | None = None, reason: str | None = None) -> LedgerAccount:
    """Set the payment credits (CP) voted for ``year`` of ``plan``: what the
    year may pay (None: not voted, uncapped). Refused below what the year has
    already paid. Audited; flushes."""
    if credit_cents is not None and (not isinstance(credit_cents, int) or isinstance(credit_cents, bool) or credit_cents < 0):
        raise LedgerRefused(_("Les crédits de paiement doivent être un montant positif en centimes."))
    if not isinstance(year, int) or isinstance(year, bool):
        raise ValueError("year must be an integer")
    _lock_ledger(session)
    account = year_account(session, plan, year)
    old = session.execute(select(LedgerAccount.credit_cents).where(LedgerAccount.id == account.id)).scalar_one()
    stmt = update(LedgerAccount).where(LedgerAccount.id == account.id)
    if credit_cents is not None:
        stmt = stmt.where(LedgerAccount.paid_cents <= credit_cents)
    result = session.execute(stmt.values(credit_cents=credit_cents).execution_options(synchronize_session=False))
    session.expire(account)
    if result.rowcount != 1:
        raise LedgerRefused(
            _("Crédits refusés : l'année %(year)s a déjà versé %(paid)s, plus que %(credits)s.",
              year=year, paid=money(account.paid_cents), credits=money(credit_cents)),
            envelope="credits",
        )
    audit.record(session, actor=actor, role=_role(actor, role), object_type="ledger_account",
                 object_id=account.key, action="ledger_set_credits", before={"credit_cents": old},
                 after={"credit_cents": credit_cents}, reason=reason)
    return account


# --- posting ------------------------------------------------------------------

def _lock_ledger(session: Session) -> None:
    """Take the audit chain's lock first (PostgreSQL): every ledger operation
    appends an audit row, which takes that lock; taking it before the account
    rows makes the lock order audit → plan → year → axis → call → undertaking →
    file in every transaction, so none can deadlock on it. SQLite needs nothing:
    BEGIN IMMEDIATE already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit._PG_AUDIT_LOCK})


def _today() -> date:
    return utcnow().astimezone(PARIS).date()


def _check_amount(amount_cents: Any) -> int:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        raise LedgerRefused(_("Le montant doit être un nombre entier de centimes strictement positif."))
    return amount_cents


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValueError("idempotency_key must be a non-empty string of at most 200 characters")
    return key


def _existing(session: Session, key: str, operation: str, application_id: int, amount_cents: int | None,
              reverses_id: int | None = None, regime: str | None = None) -> LedgerEntry | None:
    """The entry already written under ``key`` (a retried request), or None.
    The same key for a different operation is refused."""
    entry = session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).scalar_one_or_none()
    if entry is None:
        return None
    same = (entry.operation == operation and entry.application_id == application_id
            and (amount_cents is None or entry.amount_cents == amount_cents) and entry.reverses_id == reverses_id
            and (regime is None or entry.regime == regime))
    if not same:
        raise LedgerRefused(_("Cette clé d'idempotence a déjà servi pour une autre écriture."), status=409)
    return entry


def _plan_of(application: Application) -> Plan:
    return application.call.axis.plan


def _check_year(plan: Plan, year: Any) -> int:
    if not isinstance(year, int) or isinstance(year, bool):
        raise ValueError("year must be an integer")
    if not plan.start_year <= year <= plan.end_year:
        raise LedgerRefused(_("L'année %(year)s est hors de la période du plan (%(start)s–%(end)s).",
                              year=year, start=plan.start_year, end=plan.end_year), envelope="year")
    return year


def file_regime(session: Session, application: Application) -> str | None:
    """The aid regime of the file's latest reservation (None: never reserved)."""
    return session.execute(
        select(LedgerEntry.regime).where(LedgerEntry.application_id == application.id, LedgerEntry.operation == "reserve")
        .order_by(LedgerEntry.id.desc()).limit(1)
    ).scalar()


def _held_per_year(session: Session, application: Application, field: str) -> dict[int, tuple[LedgerAccount, int]]:
    """What the file holds on each year account for ``field`` (reserved or committed)."""
    rows = session.execute(
        select(LedgerAccount, func.sum(LedgerLeg.delta_cents))
        .join(LedgerLeg, LedgerLeg.account_id == LedgerAccount.id)
        .join(LedgerEntry, LedgerEntry.id == LedgerLeg.entry_id)
        .where(LedgerEntry.application_id == application.id, LedgerAccount.kind == "year", LedgerLeg.field == field)
        .group_by(LedgerAccount.id)
    ).all()
    return {account.year: (account, int(total)) for account, total in rows if total}


def _take_from_years(session: Session, application: Application, field: str, amount_cents: int, year: int,
                     file_acc: LedgerAccount) -> list[tuple[LedgerAccount, str, int]]:
    held = _held_per_year(session, application, field)
    takes, missing = rules.split_from_years([(y, v) for y, (_a, v) in held.items()], amount_cents, year)
    if missing:
        _refuse_over_file(session, file_acc, field, amount_cents)
    return [(held[y][0], field, -take) for y, take in takes]


def _refuse_over_file(session: Session, file_acc: LedgerAccount, field: str, amount_cents: int) -> None:
    session.refresh(file_acc)
    if field == "reserved":
        raise LedgerRefused(_("Montant refusé : %(amount)s dépasse ce qui reste réservé pour le dossier %(file)s (%(held)s).",
                              amount=money(amount_cents), file=file_acc.label, held=money(file_acc.reserved_cents)),
                            envelope="file")
    raise LedgerRefused(_("Montant refusé : %(amount)s dépasse ce qui reste engagé et non payé pour le dossier %(file)s (%(held)s).",
                          amount=money(amount_cents), file=file_acc.label,
                          held=money(file_acc.committed_cents - file_acc.paid_cents)), envelope="file")


@dataclass
class _Chain:
    plan: LedgerAccount
    year: LedgerAccount | None
    axis: LedgerAccount
    call: LedgerAccount
    file: LedgerAccount
    undertaking: LedgerAccount | None

    def levels(self) -> list[LedgerAccount]:
        """The chain except the year account(s), which each operation chooses."""
        return [a for a in (self.plan, self.axis, self.call, self.file, self.undertaking) if a is not None]


def _chain(session: Session, application: Application, year: int | None, regime: str,
           with_undertaking: bool = True) -> _Chain:
    """The file's accounts (created when missing); ``year`` None: no year account
    (release and decommit take the years from where the file's amounts sit)."""
    plan = _plan_of(application)
    undertaking = None
    if with_undertaking and regime == rules.DE_MINIMIS:
        undertaking = undertaking_account(session, application.organisation.siren)
    return _Chain(plan=plan_account(session, plan), year=year_account(session, plan, year) if year is not None else None,
                  axis=axis_account(session, application.call.axis), call=call_account(session, application.call),
                  file=file_account(session, application), undertaking=undertaking)


_RANK = {kind: i for i, kind in enumerate(rules.LOCK_ORDER)}


def _apply(session: Session, legs: list[tuple[LedgerAccount, str, int]], amount_cents: int,
           lock_also: list[LedgerAccount] = ()) -> None:
    """Apply the legs to the accounts' totals, one conditional UPDATE per
    account in the fixed lock order. A refused UPDATE raises LedgerRefused.
    ``lock_also``: accounts updated by zero, in the same order, only to lock
    them (the other companies of a single undertaking)."""
    per_account: dict[int, tuple[LedgerAccount, dict[str, int]]] = {}
    for account in lock_also:
        per_account.setdefault(account.id, (account, dict.fromkeys(rules.FIELDS, 0)))
    for account, field, delta in legs:
        per_account.setdefault(account.id, (account, dict.fromkeys(rules.FIELDS, 0)))[1][field] += delta
    ordered = sorted(per_account.values(), key=lambda p: (_RANK[p[0].kind], p[0].year or 0, p[0].id))
    A = LedgerAccount
    for account, d in ordered:
        dr, dc, dp = d["reserved"], d["committed"], d["paid"]
        stmt = (
            update(A).where(
                A.id == account.id,
                A.reserved_cents + dr >= 0,
                A.committed_cents + dc >= 0,
                A.paid_cents + dp >= 0,
                (A.kind == "year") | (A.paid_cents + dp <= A.committed_cents + dc),
                A.limit_cents.is_(None) | (A.reserved_cents + A.committed_cents + (dr + dc) <= A.limit_cents),
                A.credit_cents.is_(None) | (A.paid_cents + dp <= A.credit_cents),
            )
            .values(reserved_cents=A.reserved_cents + dr, committed_cents=A.committed_cents + dc,
                    paid_cents=A.paid_cents + dp)
            .execution_options(synchronize_session=False)
        )
        if session.execute(stmt).rowcount != 1:
            _refuse(session, account, dr, dc, dp, amount_cents)


def _refuse(session: Session, account: LedgerAccount, dr: int, dc: int, dp: int, amount_cents: int) -> None:
    session.expire(account)
    session.refresh(account)
    used = account.reserved_cents + account.committed_cents
    if account.limit_cents is not None and used + dr + dc > account.limit_cents:
        args = dict(amount=money(amount_cents), available=money(max(account.limit_cents - used, 0)),
                    limit=money(account.limit_cents))
        messages = {
            "plan": lambda: _("Montant refusé : %(amount)s dépasse l'enveloppe du plan « %(name)s » "
                              "(disponible : %(available)s sur %(limit)s).", name=account.label, **args),
            "year": lambda: _("Montant refusé : %(amount)s dépasse le plafond annuel %(year)s du plan "
                              "(disponible : %(available)s sur %(limit)s).", year=account.year, **args),
            "axis": lambda: _("Montant refusé : %(amount)s dépasse l'enveloppe de l'axe « %(name)s » "
                              "(disponible : %(available)s sur %(limit)s).", name=account.label, **args),
            "call": lambda: _("Montant refusé : %(amount)s dépasse le budget de l'appel « %(name)s » "
                              "(disponible : %(available)s sur %(limit)s).", name=account.label, **args),
            "file": lambda: _("Montant refusé : %(amount)s dépasse le plafond d'aide par dossier de l'appel "
                              "pour le dossier %(name)s (disponible : %(available)s sur %(limit)s).", name=account.label, **args),
            "undertaking": lambda: _("Montant refusé : %(amount)s dépasse le plafond de l'entreprise %(name)s "
                                     "(disponible : %(available)s sur %(limit)s).", name=account.label, **args),
        }
        raise LedgerRefused(messages[account.kind](), envelope=account.kind)
    if account.credit_cents is not None and account.paid_cents + dp > account.credit_cents:
        raise LedgerRefused(_("Paiement refusé : %(amount)s dépasse les crédits de paiement %(year)s du plan "
                              "(disponible : %(available)s sur %(credits)s).", amount=money(amount_cents),
                              year=account.year, available=money(max(account.credit_cents - account.paid_cents, 0)),
                              credits=money(account.credit_cents)), envelope="credits")
    if account.reserved_cents + dr < 0:
        raise LedgerRefused(_("Montant refusé : %(amount)s dépasse ce qui reste réservé sur « %(name)s » (%(held)s).",
                              amount=money(amount_cents), name=account.label, held=money(account.reserved_cents)),
                            envelope=account.kind)
    if account.paid_cents + dp > account.committed_cents + dc and account.kind != "year":
        if dp > 0:
            raise LedgerRefused(_("Paiement refusé : %(amount)s dépasse ce qui reste à payer sur le montant engagé "
                                  "pour « %(name)s » (%(held)s).", amount=money(amount_cents), name=account.label,
                                  held=money(account.committed_cents - account.paid_cents)), envelope=account.kind)
        raise LedgerRefused(_("Montant refusé : %(amount)s dépasse ce qui reste engagé et non payé sur « %(name)s » (%(held)s).",
                              amount=money(amount_cents), name=account.label,
                              held=money(account.committed_cents - account.paid_cents)), envelope=account.kind)
    raise LedgerRefused(_("Montant refusé : %(amount)s dépasse ce qui reste engagé sur « %(name)s » (%(held)s).",
                          amount=money(amount_cents), name=account.label, held=money(account.committed_cents)),
                        envelope=account.kind)


def _declared_de_minimis(application: Application) -> int:
    value = (application.answers or {}).get(DE_MINIMIS_ANSWER_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def aids_on_undertaking(session: Session, undertaking: LedgerAccount | list[LedgerAccount]) -> list[rules.AidOnUndertaking]:
    """Each file's de minimis aid held on the undertaking's account (or on the
    accounts of a group of linked companies), with the last date it was
    reserved or granted (releases and decommitments do not date it)."""
    accounts = undertaking if isinstance(undertaking, list) else [undertaking]
    if not accounts:
        return []
    dating = case((LedgerEntry.operation.notin_(("release", "decommit")), LedgerEntry.effective_on), else_=None)
    rows = session.execute(
        select(LedgerEntry.application_id, func.sum(LedgerLeg.delta_cents), func.max(dating))
        .join(LedgerEntry, LedgerEntry.id == LedgerLeg.entry_id)
        .where(LedgerLeg.account_id.in_([a.id for a in accounts]), LedgerLeg.field.in_(("reserved", "committed")))
        .group_by(LedgerEntry.application_id)
    ).all()
    out = []
    for application_id, amount, granted_on in rows:
        if isinstance(granted_on, str):  # SQLite returns the aggregate of a CASE as text
            granted_on = date.fromisoformat(granted_on)
        out.append(rules.AidOnUndertaking(application_id, int(amount), granted_on))
    return out


def de_minimis_counted(session: Session, siren: str, on: date | None = None) -> int:
    """De minimis aid through Guichet that counts for ``siren``'s single
    undertaking (the SIREN and every company linked to it) at ``on`` (rolling window)."""
    from app.ledger.undertakings import group_accounts

    accounts = group_accounts(session, siren)
    if not accounts:
        return 0
    years = next((a.rolling_years for a in accounts if a.siren == siren), None) or rules.DE_MINIMIS_YEARS
    return rules.counted_de_minimis(aids_on_undertaking(session, accounts), on or _today(), years)


def _check_de_minimis(session: Session, undertaking: LedgerAccount, group: list[LedgerAccount],
                      application: Application, on: date, amount_cents: int, added_cents: int) -> None:
    """Under the locks of the undertaking's row and of its linked companies'
    rows (taken by their UPDATEs, with the new legs already written): Guichet's
    aids to the whole single undertaking within the window plus the declared ones."""
    session.refresh(undertaking)
    if undertaking.rolling_limit_cents is None:
        return
    accounts = [undertaking, *(a for a in group if a.id != undertaking.id)]
    granted = rules.counted_de_minimis(aids_on_undertaking(session, accounts), on,
                                       undertaking.rolling_years or rules.DE_MINIMIS_YEARS)
    declared = _declared_de_minimis(application)
    total = granted + declared
    if total > undertaking.rolling_limit_cents:
        others = sorted(a.siren for a in accounts if a.siren != undertaking.siren)
        siren = undertaking.siren if not others else _("%(siren)s et entreprises liées %(others)s",
                                                        siren=undertaking.siren, others=", ".join(others))
        raise LedgerRefused(
            _("Montant refusé : %(amount)s dépasse le plafond de minimis de l'entreprise unique (SIREN %(siren)s) : "
              "%(total)s sur %(years)s ans avec cette aide (aides déjà accordées par Guichet : %(granted)s, aides déclarées : "
              "%(declared)s), pour un plafond de %(ceiling)s. Une aide de minimis ne peut pas être accordée en partie.",
              amount=money(amount_cents), siren=siren, total=money(total), years=undertaking.rolling_years,
              granted=money(max(granted - added_cents, 0)), declared=money(declared), ceiling=money(undertaking.rolling_limit_cents)),
            envelope="undertaking",
        )


def _post(
    session: Session,
    *,
    operation: str,
    application: Application,
    amount_cents: int,
    year: int,
    regime: str,
    idempotency_key: str,
    actor: Any | None,
    role: str | None,
    on: date,
    reason: str | None,
    build_legs: Callable[[], list[tuple[LedgerAccount, str, int]]],
    payment_kind: str | None = None,
    reverses: LedgerEntry | None = None,
) -> LedgerEntry:
    """Write one entry and its legs and move the totals, all or nothing (a
    SAVEPOINT: a refusal leaves the caller's transaction as it was)."""
    touched: list[LedgerAccount] = []
    try:
        with session.begin_nested():
            legs = build_legs()
            touched = [account for account, _f, _d in legs]
            entry = LedgerEntry(
                idempotency_key=idempotency_key, operation=operation, application_id=application.id, year=year,
                amount_cents=amount_cents, regime=regime, payment_kind=payment_kind, effective_on=on,
                reverses_id=reverses.id if reverses is not None else None,
                actor_id=getattr(actor, "id", actor), actor_role=role, reason=reason,
            )
            session.add(entry)
            session.flush()  # the idempotency key is UNIQUE: a concurrent retry stops here
            undertaking_delta = sum(d for a, f, d in legs if a.kind == "undertaking" and f != "paid")
            undertaking = next((a for a, _f, _d in legs if a.kind == "undertaking"), None)
            group: list[LedgerAccount] = []
            if undertaking_delta > 0 and undertaking is not None:
                from app.ledger.undertakings import group_accounts

                group = [a for a in group_accounts(session, undertaking.siren) if a.id != undertaking.id]
            _apply(session, legs, amount_cents, lock_also=group)
            session.add_all([LedgerLeg(entry_id=entry.id, account_id=a.id, field=f, delta_cents=d) for a, f, d in legs if d])
            session.flush()
            if undertaking_delta > 0 and undertaking is not None:
                _check_de_minimis(session, undertaking, group, application, on, amount_cents, undertaking_delta)
            base = reverses.operation if reverses is not None else None
            problems = rules.balance_problems(operation, amount_cents, regime,
                                              [(a.kind, f, d) for a, f, d in legs], base)
            if problems:  # a bug in this module, never a user error
                raise RuntimeError(f"unbalanced ledger entry: {problems}")
            after = {"entry": entry.id, "amount_cents": amount_cents, "year": year, "regime": regime,
                     "idempotency_key": idempotency_key}
            if payment_kind:
                after["payment_kind"] = payment_kind
            if reverses is not None:
                after["reverses"] = reverses.id
            audit.record(session, actor=actor, role=role, object_type="application", object_id=application.reference,
                         action=f"ledger_{operation}", after=after, reason=reason)
    except IntegrityError:
        existing = session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)).scalar_one_or_none()
        if existing is None:
            raise
        return existing
    finally:
        for account in touched:
            if account in session:
                session.expire(account)
    return entry


def _role(actor: Any | None, role: str | None) -> str | None:
    return role if role is not None else ("system" if actor is None else None)


# --- the operations -------------------------------------------------------------

def reserve(session: Session, application: Application, amount_cents: int, *, year: int, idempotency_key: str,
            actor: Any | None, role: str | None = None, regime: str = rules.DE_MINIMIS, on: date | None = None,
            reason: str | None = None) -> LedgerEntry:
    """Reserve ``amount_cents`` for the file (committee proposal) on its chain:
    plan, ``year`` (year of the decision), axis, call, the file, and for de
    minimis aid the single undertaking (rolling ceiling checked under its lock)."""
    key = _check_key(idempotency_key)
    amount = _check_amount(amount_cents)
    if not rules.valid_regime(regime):
        raise LedgerRefused(_("Régime d'aide inconnu : « %(regime)s » (de_minimis ou gber:<article>).", regime=regime))
    _lock_ledger(session)
    if (done := _existing(session, key, "reserve", application.id, amount, regime=regime)) is not None:
        return done
    year = _check_year(_plan_of(application), year)
    current = file_regime(session, application)
    if current is not None and current != regime:
        held = session.execute(select(LedgerAccount).where(LedgerAccount.key == f"file:{application.id}")).scalar_one()
        if held.reserved_cents or held.committed_cents:
            raise LedgerRefused(_("Ce dossier a déjà une aide réservée ou engagée sous le régime %(regime)s : "
                                  "libérez-la avant d'en changer.", regime=current))
    on = on or _today()

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        chain = _chain(session, application, year, regime)
        return [(a, "reserved", amount) for a in [chain.year, *chain.levels()]]

    return _post(session, operation="reserve", application=application, amount_cents=amount, year=year, regime=regime,
                 idempotency_key=key, actor=actor, role=_role(actor, role), on=on, reason=reason, build_legs=legs)


def _regime_or_refuse(session: Session, application: Application) -> str:
    regime = file_regime(session, application)
    if regime is None:
        raise LedgerRefused(_("Aucune aide n'a été réservée pour le dossier %(file)s.", file=application.reference),
                            envelope="file")
    return regime


def release(session: Session, application: Application, amount_cents: int | None = None, *, idempotency_key: str,
            actor: Any | None, role: str | None = None, year: int | None = None, on: date | None = None,
            reason: str | None = None) -> LedgerEntry | None:
    """Release a reservation (refusal, withdrawal). ``amount_cents`` None: all
    that is still reserved; then None is returned when nothing is. The amount
    leaves the year accounts it sits on (``year`` first, then in year order)."""
    key = _check_key(idempotency_key)
    _lock_ledger(session)
    if (done := _existing(session, key, "release", application.id, amount_cents)) is not None:
        return done
    on = on or _today()
    year = year if year is not None else on.year
    if amount_cents is None and file_regime(session, application) is None:
        return None  # never reserved: nothing to release
    regime = _regime_or_refuse(session, application)
    file_acc = file_account(session, application)
    session.refresh(file_acc)
    if amount_cents is None:
        if file_acc.reserved_cents == 0:
            return None
        amount_cents = file_acc.reserved_cents
    amount = _check_amount(amount_cents)

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        chain = _chain(session, application, None, regime)
        return ([(a, "reserved", -amount) for a in chain.levels()]
                + _take_from_years(session, application, "reserved", amount, year, chain.file))

    return _post(session, operation="release", application=application, amount_cents=amount, year=year, regime=regime,
                 idempotency_key=key, actor=actor, role=_role(actor, role), on=on, reason=reason, build_legs=legs)


def commit(session: Session, application: Application, amount_cents: int, *, year: int, idempotency_key: str,
           actor: Any | None, role: str | None = None, on: date | None = None, reason: str | None = None) -> LedgerEntry:
    """Turn ``amount_cents`` of the file's reservation into a legal commitment
    (signed decision). The commitment counts on ``year`` (the year of the
    decision, whose ceiling applies); the reservation leaves the year accounts
    it sat on. What stays reserved beyond the amount is released separately."""
    key = _check_key(idempotency_key)
    amount = _check_amount(amount_cents)
    _lock_ledger(session)
    if (done := _existing(session, key, "commit", application.id, amount)) is not None:
        return done
    year = _check_year(_plan_of(application), year)
    regime = _regime_or_refuse(session, application)
    on = on or _today()

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        chain = _chain(session, application, year, regime)
        moves = []
        for account in chain.levels():
            moves += [(account, "reserved", -amount), (account, "committed", amount)]
        moves += _take_from_years(session, application, "reserved", amount, year, chain.file)
        moves.append((chain.year, "committed", amount))
        return moves

    return _post(session, operation="commit", application=application, amount_cents=amount, year=year, regime=regime,
                 idempotency_key=key, actor=actor, role=_role(actor, role), on=on, reason=reason, build_legs=legs)


def pay(session: Session, application: Application, amount_cents: int, *, kind: str, idempotency_key: str,
        actor: Any | None, role: str | None = None, year: int | None = None, on: date | None = None,
        reason: str | None = None) -> LedgerEntry:
    """Record a payment (``kind``: advance, interim, balance) on the file's chain;
    it is reported on the year of payment (``year``, by default that of ``on``).
    Payments never exceed what is committed on the file (database CHECK)."""
    key = _check_key(idempotency_key)
    amount = _check_amount(amount_cents)
    if kind not in ("advance", "interim", "balance"):
        raise ValueError(f"unknown payment kind {kind!r}")
    _lock_ledger(session)
    if (done := _existing(session, key, "pay", application.id, amount)) is not None:
        return done
    regime = _regime_or_refuse(session, application)
    on = on or _today()
    year = year if year is not None else on.year
    file_acc = file_account(session, application)
    session.refresh(file_acc)
    if amount > file_acc.committed_cents - file_acc.paid_cents:  # the message; the UPDATE is the guard
        raise LedgerRefused(_("Paiement refusé : %(amount)s dépasse ce qui reste à payer sur le montant engagé "
                              "pour le dossier %(file)s (%(held)s).", amount=money(amount), file=file_acc.label,
                              held=money(file_acc.committed_cents - file_acc.paid_cents)), envelope="file")

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        chain = _chain(session, application, year, regime, with_undertaking=False)
        return [(a, "paid", amount) for a in [chain.year, *chain.levels()]]

    return _post(session, operation="pay", application=application, amount_cents=amount, year=year, regime=regime,
                 idempotency_key=key, actor=actor, role=_role(actor, role), on=on, reason=reason, build_legs=legs,
                 payment_kind=kind)


def decommit(session: Session, application: Application, amount_cents: int | None = None, *, idempotency_key: str,
             actor: Any | None, role: str | None = None, year: int | None = None, on: date | None = None,
             reason: str | None = None) -> LedgerEntry | None:
    """Decommit what will not be paid (underspend, cancellation, lapse).
    ``amount_cents`` None: all that is committed and not paid; then None is
    returned when nothing is. Never below what was paid (database CHECK)."""
    key = _check_key(idempotency_key)
    _lock_ledger(session)
    if (done := _existing(session, key, "decommit", application.id, amount_cents)) is not None:
        return done
    on = on or _today()
    year = year if year is not None else on.year
    if amount_cents is None and file_regime(session, application) is None:
        return None  # never reserved: nothing to decommit
    regime = _regime_or_refuse(session, application)
    file_acc = file_account(session, application)
    session.refresh(file_acc)
    if amount_cents is None:
        remaining = file_acc.committed_cents - file_acc.paid_cents
        if remaining <= 0:
            return None
        amount_cents = remaining
    amount = _check_amount(amount_cents)
    if amount > file_acc.committed_cents - file_acc.paid_cents:
        _refuse_over_file(session, file_acc, "committed", amount)

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        chain = _chain(session, application, None, regime)
        return ([(a, "committed", -amount) for a in chain.levels()]
                + _take_from_years(session, application, "committed", amount, year, chain.file))

    return _post(session, operation="decommit", application=application, amount_cents=amount, year=year, regime=regime,
                 idempotency_key=key, actor=actor, role=_role(actor, role), on=on, reason=reason, build_legs=legs)


def release_remaining(session: Session, application: Application, *, idempotency_key: str, actor: Any | None,
                      role: str | None = None, year: int | None = None, on: date | None = None,
                      reason: str | None = None) -> list[LedgerEntry]:
    """Release what is reserved and decommit what is committed and not paid
    (the workflows' ``ledger_release`` effect); a no-op when nothing is held.
    Writes up to two entries, keyed ``<key>:release`` and ``<key>:decommit``."""
    done = []
    for operation, suffix in ((release, "release"), (decommit, "decommit")):
        entry = operation(session, application, idempotency_key=f"{idempotency_key}:{suffix}", actor=actor, role=role,
                          year=year, on=on, reason=reason)
        if entry is not None:
            done.append(entry)
    return done


def reverse(session: Session, entry: LedgerEntry, *, idempotency_key: str, actor: Any | None, reason: str,
            role: str | None = None, on: date | None = None) -> LedgerEntry:
    """Correct ``entry`` with a reversing entry: the same legs negated, on the
    same accounts, under the same caps (a reversed release re-reserves, and
    must fit). An entry is reversed at most once; a reversal is not reversed
    (write the right operation again instead)."""
    key = _check_key(idempotency_key)
    if not reason or not reason.strip():
        raise LedgerRefused(_("Indiquez le motif de la contrepassation."))
    _lock_ledger(session)
    if (done := _existing(session, key, "reversal", entry.application_id, entry.amount_cents, entry.id)) is not None:
        return done
    if entry.operation == "reversal":
        raise LedgerRefused(_("Une contrepassation ne se contrepasse pas : passez de nouveau l'écriture voulue."))
    already = session.execute(select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)).scalar()
    if already is not None:
        raise LedgerRefused(_("Cette écriture a déjà été contrepassée (écriture n° %(id)s).", id=already), status=409)
    application = entry.application
    original = session.execute(
        select(LedgerAccount, LedgerLeg.field, LedgerLeg.delta_cents).join(LedgerLeg, LedgerLeg.account_id == LedgerAccount.id)
        .where(LedgerLeg.entry_id == entry.id).order_by(LedgerLeg.id)
    ).all()

    def legs() -> list[tuple[LedgerAccount, str, int]]:
        return [(account, field, -delta) for account, field, delta in original]

    return _post(session, operation="reversal", application=application, amount_cents=entry.amount_cents,
                 year=entry.year, regime=entry.regime, idempotency_key=key, actor=actor, role=_role(actor, role),
                 on=on or _today(), reason=reason.strip(), build_legs=legs, payment_kind=entry.payment_kind,
                 reverses=entry)
