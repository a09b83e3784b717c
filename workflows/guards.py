"""Built-in guards. Each returns a :class:`GuardResult` with a French message."""

from __future__ import annotations

from .context import FileContext
from .registry import GuardResult, guard


@guard("required_documents")
def required_documents(ctx: FileContext, *, kinds: list[str]) -> GuardResult:
    """Every listed document kind is attached to the file."""
    present = ctx.document_kinds()
    missing = [k for k in kinds if k not in present]
    if missing:
        return GuardResult.fail("Pièce(s) manquante(s) : " + ", ".join(missing) + ".")
    return GuardResult.ok()


@guard("eligibility_passed")
def eligibility_passed(ctx: FileContext) -> GuardResult:
    """The eligibility checks were run and all passed."""
    outcome = ctx.eligibility_passed()
    if outcome is None:
        return GuardResult.fail("La vérification d'éligibilité n'a pas encore été faite.")
    if not outcome:
        return GuardResult.fail("Le dossier ne satisfait pas les critères d'éligibilité.")
    return GuardResult.ok()


@guard("eligibility_failed")
def eligibility_failed(ctx: FileContext) -> GuardResult:
    """The eligibility checks were run and at least one failed."""
    outcome = ctx.eligibility_passed()
    if outcome is None:
        return GuardResult.fail("La vérification d'éligibilité n'a pas encore été faite.")
    if outcome:
        return GuardResult.fail("Le dossier satisfait les critères d'éligibilité : il ne peut être déclaré inéligible.")
    return GuardResult.ok()


@guard("reviews_complete")
def reviews_complete(ctx: FileContext, *, min: int) -> GuardResult:  # ``min``: the name definitions use
    """At least ``min`` reviews are submitted."""
    count = ctx.submitted_review_count()
    if count < min:
        return GuardResult.fail(f"Évaluations insuffisantes : {count} remise(s) sur {min} requise(s).")
    return GuardResult.ok()


@guard("committee_approved")
def committee_approved(ctx: FileContext) -> GuardResult:
    """The committee voted in favour."""
    decision = ctx.committee_decision()
    if decision is None:
        return GuardResult.fail("Le comité n'a pas encore statué sur ce dossier.")
    if decision != "approved":
        return GuardResult.fail("Le comité n'a pas rendu de décision favorable.")
    return GuardResult.ok()


@guard("committee_rejected")
def committee_rejected(ctx: FileContext) -> GuardResult:
    """The committee voted against."""
    decision = ctx.committee_decision()
    if decision is None:
        return GuardResult.fail("Le comité n'a pas encore statué sur ce dossier.")
    if decision != "rejected":
        return GuardResult.fail("Le comité n'a pas rendu de décision défavorable.")
    return GuardResult.ok()


@guard("reason_given")
def reason_given(ctx: FileContext) -> GuardResult:
    """The actor typed a non-blank reason."""
    if not (ctx.reason or "").strip():
        return GuardResult.fail("Un motif est obligatoire pour cette action.")
    return GuardResult.ok()


@guard("amount_proposed")
def amount_proposed(ctx: FileContext) -> GuardResult:
    """A positive aid amount is proposed."""
    amount = ctx.amount_cents
    if amount is None or amount <= 0:
        return GuardResult.fail("Aucun montant d'aide positif n'est proposé.")
    return GuardResult.ok()


@guard("call_open")
def call_open(ctx: FileContext) -> GuardResult:
    """The call accepts submissions."""
    if not ctx.call_is_open():
        return GuardResult.fail("L'appel à projets est clos : le dépôt n'est plus possible.")
    return GuardResult.ok()


@guard("call_closed")
def call_closed(ctx: FileContext) -> GuardResult:
    """The call no longer accepts submissions."""
    if ctx.call_is_open():
        return GuardResult.fail("L'appel à projets est encore ouvert.")
    return GuardResult.ok()


@guard("agreement_signed")
def agreement_signed(ctx: FileContext) -> GuardResult:
    """The agreement (convention) is signed."""
    if not ctx.agreement_signed():
        return GuardResult.fail("La convention n'est pas encore signée.")
    return GuardResult.ok()


@guard("balance_paid")
def balance_paid(ctx: FileContext) -> GuardResult:
    """The balance (solde) is paid."""
    if not ctx.balance_paid():
        return GuardResult.fail("Le solde de l'aide n'a pas encore été versé.")
    return GuardResult.ok()


@guard("lapse_due")
def lapse_due(ctx: FileContext) -> GuardResult:
    """The lapse (caducité) deadlines are exceeded."""
    if not ctx.lapse_due():
        return GuardResult.fail("Les délais de caducité ne sont pas dépassés.")
    return GuardResult.ok()
