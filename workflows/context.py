"""The context guards and effects read: a protocol the application implements.

The engine knows nothing of the database. For each firing, the app builds an
object satisfying :class:`FileContext` over one file (``dossier``) and the
request (reason typed by the actor). Methods are called lazily, only by the
guards/effects of the transition being fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class FileContext(Protocol):
    @property
    def reason(self) -> str | None:
        """Reason (motif) typed by the actor for this transition, if any."""
        ...

    @property
    def amount_cents(self) -> int | None:
        """Aid amount proposed / voted for the file, in euro cents."""
        ...

    def document_kinds(self) -> set[str]:
        """Kinds (codes) of the documents currently attached to the file."""
        ...

    def eligibility_passed(self) -> bool | None:
        """Outcome of the eligibility checks; None when not yet run."""
        ...

    def submitted_review_count(self) -> int:
        """Number of submitted reviews (instruction grid or expert opinions)."""
        ...

    def committee_decision(self) -> str | None:
        """``"approved"``, ``"rejected"``, ``"adjourned"`` or None (not voted)."""
        ...

    def call_is_open(self) -> bool:
        """Whether the call for projects currently accepts submissions."""
        ...

    def agreement_signed(self) -> bool:
        """Whether the agreement (convention) is signed by all parties."""
        ...

    def balance_paid(self) -> bool:
        """Whether the balance (solde) has been paid."""
        ...

    def lapse_due(self) -> bool:
        """Whether the lapse (caducité) deadlines are exceeded."""
        ...


@dataclass
class StaticContext:
    """A :class:`FileContext` over plain values: tests, previews, scripts."""

    reason: str | None = None
    amount_cents: int | None = None
    documents: set[str] = field(default_factory=set)
    eligibility: bool | None = None
    reviews: int = 0
    decision: str | None = None
    call_open: bool = True
    signed: bool = False
    paid: bool = False
    lapse: bool = False

    def document_kinds(self) -> set[str]:
        return set(self.documents)

    def eligibility_passed(self) -> bool | None:
        return self.eligibility

    def submitted_review_count(self) -> int:
        return self.reviews

    def committee_decision(self) -> str | None:
        return self.decision

    def call_is_open(self) -> bool:
        return self.call_open

    def agreement_signed(self) -> bool:
        return self.signed

    def balance_paid(self) -> bool:
        return self.paid

    def lapse_due(self) -> bool:
        return self.lapse
