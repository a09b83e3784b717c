"""The budget ledger: capped accounts, append-only entries, and the operations
that move money under concurrency (DOMAIN.md §4–5).

Accounts (``ledger_accounts``)
    One row per envelope, named by ``key``: the plan (``plan:<id>``, capped by
    its envelope, 350 M€), each year of its period (``year:<plan>:<year>``,
    capped by the yearly ceiling, 70 M€), each axis (``axis:<id>``, uncapped
    until ``set_limit``: the plan's data has no axis budget), each call
    (``call:<id>``, capped by its budget), each file (``file:<id>``, capped by
    its call's maximum aid per file), and one per single undertaking for
    de minimis (``undertaking:<SIREN>``; linked companies form one single
    undertaking, see ``app/ledger/undertakings.py``). Each row keeps running
    totals ``reserved_cents``, ``committed_cents``, ``paid_cents``. A year
    account may also carry the year's payment credits (``credit_cents``, CP,
    ``set_credits``): what the year pays never exceeds them.
    ``ensure_accounts(session, plan)`` creates the tree; the operations also
    create any missing account of a file's chain on first use.

Invariants held by the database (CHECK constraints)
    totals ≥ 0; ``reserved + committed ≤ limit`` when a limit is set;
    ``paid ≤ credits`` on a year whose payment credits are set;
    ``paid ≤ committed`` on every account but the years (commitments count on
    the year of the decision, payments on the year of payment, so a year may
    pay more than it committed); amounts > 0. Entries and legs are append-only:
    triggers refuse UPDATE and DELETE (and TRUNCATE) on both dialects, DELETE
    being let through only while ``audit_purge_allowed`` holds a row (test
    teardown), as for the audit log. Corrections are reversing entries.

Entries and legs — the double-entry convention
    An entry (``ledger_entries``) is one operation on one file: its
    idempotency key (UNIQUE), operation, file, budget year, amount (> 0), aid
    regime (``de_minimis`` or ``gber:<article>``, recorded on every entry),
    effective date, actor, reason, and for a reversal the entry it reverses.
    Its legs (``ledger_legs``: account, field, delta) move money between the
    three states on every level of the file's chain. For an amount ``a`` the
    legs of each level (plan, year, axis, call, file, and the undertaking for
    de minimis except on payments) sum to ``a × vector`` per field
    (reserved, committed, paid)::

        reserve  (+1,  0,  0)   committee proposal
        release  (−1,  0,  0)   refusal, withdrawal
        commit   (−1, +1,  0)   signed decision: what leaves "reserved" enters "committed"
        pay      ( 0,  0, +1)   advance, interim payment, balance
        decommit ( 0, −1,  0)   underspend, cancellation, lapse
        reversal  −vector of the reversed entry, legs negated one by one

    On the year level the legs may be spread over several year accounts:
    a commitment counts on the year of the decision (whose ceiling applies)
    while the reservation leaves the year it was made on; a release or a
    decommitment leaves the years the file's amounts sit on (the operation's
    year first, then in year order). ``rules.balance_problems`` checks an
    entry; ``check_entries`` checks them all, ``check_totals`` compares every
    stored total with the sum of its legs (``flask --app wsgi ledger verify``).

Concurrency: never check-then-insert
    Each operation applies its legs with one conditional UPDATE per account
    (``SET reserved_cents = reserved_cents + :x … WHERE id = :id AND
    reserved_cents + committed_cents + :x <= limit_cents AND …``), always in
    the same order — plan, years, axis, call, undertaking, file — so two
    transactions cannot deadlock. An UPDATE that matches no row is a refusal
    (``LedgerRefused``, a French message naming the envelope: plan envelope,
    yearly ceiling, axis, call budget, maximum aid per file, de minimis
    ceiling); the operation runs in a SAVEPOINT, so a refusal leaves nothing
    half-written even if the caller goes on, and the CHECK constraints are the
    last line of defence. On PostgreSQL the UPDATE's row lock serialises
    writers of the same envelope; the operation first takes the audit chain's
    advisory lock (every operation appends an audit row, which takes it), so
    the lock order is the same in every transaction, audit lock included. On
    SQLite every transaction is BEGIN IMMEDIATE: writers are serialised.

De minimis over a rolling three years
    A running total cannot roll, so the undertaking's row is the
    serialisation point: the operation first updates it (which locks it),
    writes the new legs, then — under that lock — sums the de minimis aid of
    each of the undertaking's files still reserved or committed whose last
    reservation or grant falls within the window (``on`` − 3 years, ``on``],
    adds the amount the applicant declared in the file's answers
    (``aides_de_minimis_3_ans``, integer cents, absent = 0), and refuses the
    whole operation if the total exceeds ``rolling_limit_cents`` (300,000 €,
    stored on the row). An aid that would cross the ceiling is refused
    entirely, never in part. Linked companies count together: the operation
    also locks (updates by zero, in the same order) the de minimis rows of
    every SIREN linked to the file's, and sums the aids of all of them.
    Reservations count as already granted (the
    conservative side); payments do not touch the count.

Idempotency
    An idempotency key already used returns the existing entry and changes
    nothing (a retried request); the same key for another operation, file or
    amount is refused.

Every operation writes one audit row (``ledger_<operation>``) in the same
transaction, and flushes without committing.
"""

from app.ledger.operations import (
    DE_MINIMIS_ANSWER_KEY,
    LedgerRefused,
    aids_on_undertaking,
    commit,
    de_minimis_counted,
    decommit,
    ensure_accounts,
    file_account,
    file_regime,
    pay,
    release,
    release_remaining,
    reserve,
    reverse,
    set_credits,
    set_limit,
    undertaking_account,
)
from app.ledger.queries import Balance, balances, entries_of, file_balance
from app.ledger.verify import (BrokenInvariant, Summary, TotalMismatch, UnbalancedEntry, check_entries,
                               check_invariants, check_totals, summary)

__all__ = [
    "Balance",
    "BrokenInvariant",
    "Summary",
    "DE_MINIMIS_ANSWER_KEY",
    "LedgerRefused",
    "TotalMismatch",
    "UnbalancedEntry",
    "aids_on_undertaking",
    "balances",
    "check_entries",
    "check_invariants",
    "check_totals",
    "commit",
    "de_minimis_counted",
    "decommit",
    "ensure_accounts",
    "entries_of",
    "file_account",
    "file_balance",
    "file_regime",
    "pay",
    "release",
    "release_remaining",
    "reserve",
    "reverse",
    "set_credits",
    "set_limit",
    "summary",
    "undertaking_account",
]
