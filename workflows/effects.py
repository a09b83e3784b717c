"""Built-in effects: declarations only, the application performs them.

Each function is pure: it returns the payload (plain values captured when the
transition fires) the app's handler needs. The phase says when to run it:
ledger and clock effects inside the DB transaction, messages after commit.
"""

from __future__ import annotations

from typing import Any, Literal

from .context import FileContext
from .registry import Phase, effect

Recipient = Literal["applicant", "instructors", "experts", "committee", "finance", "admins"]


@effect("ledger_reserve", phase=Phase.IN_TRANSACTION)
def ledger_reserve(ctx: FileContext) -> dict[str, Any]:
    """Reserve the proposed amount on the call's envelope (committee proposal)."""
    return {"amount_cents": ctx.amount_cents}


@effect("ledger_commit", phase=Phase.IN_TRANSACTION)
def ledger_commit(ctx: FileContext) -> dict[str, Any]:
    """Turn the reservation into a legal commitment (signed decision / agreement)."""
    return {"amount_cents": ctx.amount_cents}


@effect("ledger_release", phase=Phase.IN_TRANSACTION)
def ledger_release(ctx: FileContext) -> dict[str, Any]:
    """Release what is reserved or committed and will not be paid (dégagement).

    The handler computes the remaining amount from the ledger; it must be a
    no-op when nothing is reserved.
    """
    return {}


@effect("clock_pause", phase=Phase.IN_TRANSACTION)
def clock_pause(ctx: FileContext) -> dict[str, Any]:
    """Open a pause of the file's deadlines (corrections requested)."""
    return {}


@effect("clock_resume", phase=Phase.IN_TRANSACTION)
def clock_resume(ctx: FileContext) -> dict[str, Any]:
    """Close the open pause of the file's deadlines."""
    return {}


@effect("notify", phase=Phase.AFTER_COMMIT)
def notify(ctx: FileContext, *, template: str, to: Recipient) -> dict[str, Any]:
    """Send the e-mail ``template`` to the ``to`` audience of the file."""
    return {"template": template, "to": to, "reason": ctx.reason}


@effect("pdf", phase=Phase.AFTER_COMMIT)
def pdf(ctx: FileContext, *, template: str) -> dict[str, Any]:
    """Render the PDF ``template`` (decision letter, agreement, receipt) and attach it."""
    return {"template": template}


@effect("webhook", phase=Phase.AFTER_COMMIT)
def webhook(ctx: FileContext, *, event: str) -> dict[str, Any]:
    """Post ``event`` to the configured webhooks."""
    return {"event": event}
