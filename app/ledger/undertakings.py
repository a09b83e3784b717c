"""Single undertakings for de minimis: companies linked to one another count
as one (Reg. (EU) 2023/2831, art. 2(2): control, majority of voting rights,
dominant influence). A link joins two SIRENs; the single undertaking of a
SIREN is every SIREN reachable from it through links (a connected group).

The ledger keeps one de minimis account per SIREN (``undertaking:<SIREN>``):
a link moves no money. The rolling ceiling is checked on the whole group —
the operation locks every account of the group in the fixed order, then sums
their aids (``app.ledger.operations``). Declaring or removing a link takes the
ledger's lock first, so it never interleaves with a reservation's check.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from stdnum.fr import siren as siren_number

from app import audit
from app.formatting import translate as _
from app.models import LedgerAccount, UndertakingLink

# A group is small (a holding and its subsidiaries); this bounds a bad graph.
MAX_GROUP = 500


def group_of(session: Session, siren: str) -> list[str]:
    """Every SIREN of ``siren``'s single undertaking, itself included, sorted."""
    seen = {siren}
    frontier = {siren}
    while frontier and len(seen) < MAX_GROUP:
        rows = session.execute(
            select(UndertakingLink.siren, UndertakingLink.linked_siren)
            .where(or_(UndertakingLink.siren.in_(frontier), UndertakingLink.linked_siren.in_(frontier)))
        ).all()
        found = {s for pair in rows for s in pair} - seen
        seen |= found
        frontier = found
    return sorted(seen)


def links_of(session: Session, siren: str) -> list[UndertakingLink]:
    """The links of the whole group of ``siren``, oldest first."""
    group = group_of(session, siren)
    return list(session.execute(
        select(UndertakingLink).where(UndertakingLink.siren.in_(group) | UndertakingLink.linked_siren.in_(group))
        .order_by(UndertakingLink.id)
    ).scalars())


def group_accounts(session: Session, siren: str) -> list[LedgerAccount]:
    """The de minimis accounts that exist for ``siren``'s group, in id order
    (the order they are locked in)."""
    return list(session.execute(
        select(LedgerAccount).where(LedgerAccount.kind == "undertaking",
                                    LedgerAccount.siren.in_(group_of(session, siren)))
        .order_by(LedgerAccount.id)
    ).scalars())


class LinkRefused(ValueError):
    """The link is refused; the message says why, in French."""


def _clean(value: Any) -> str:
    return siren_number.compact(str(value or ""))


def declare_link(session: Session, siren: str, linked_siren: str, relation: str, *, actor: Any | None,
                 role: str | None = None, organisation_id: int | None = None) -> tuple[UndertakingLink, bool]:
    """Record that two companies are linked. Returns (the link, created);
    declaring an existing link again changes nothing. Audited. Flushes."""
    from app.ledger.operations import _lock_ledger

    a, b = _clean(siren), _clean(linked_siren)
    for value in (a, b):
        if not siren_number.is_valid(value):
            raise LinkRefused(_("« %(value)s » n'est pas un numéro SIREN valide (9 chiffres).", value=value or "—"))
    if a == b:
        raise LinkRefused(_("Une entreprise ne peut pas être liée à elle-même."))
    relation = (relation or "").strip()
    if not relation:
        raise LinkRefused(_("Indiquez la nature du lien (filiale, société mère, contrôle commun…)."))
    if len(relation) > 200:
        raise LinkRefused(_("La nature du lien tient en 200 caractères au plus."))
    low, high = sorted((a, b))
    _lock_ledger(session)
    existing = session.execute(select(UndertakingLink).where(
        UndertakingLink.siren == low, UndertakingLink.linked_siren == high)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    link = UndertakingLink(siren=low, linked_siren=high, relation=relation,
                           declared_by_id=getattr(actor, "id", actor), organisation_id=organisation_id)
    session.add(link)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="undertaking", object_id=low,
                 action="undertaking_link", after={"siren": low, "linked_siren": high, "relation": relation,
                                                   "group": group_of(session, low)})
    return link, True


def remove_link(session: Session, link: UndertakingLink, *, actor: Any | None, reason: str,
                role: str | None = None) -> None:
    """Delete a link declared in error (staff only, with the reason). Audited. Flushes."""
    from app.ledger.operations import _lock_ledger

    if not reason or not reason.strip():
        raise LinkRefused(_("Indiquez le motif de la suppression du lien."))
    _lock_ledger(session)
    before = {"siren": link.siren, "linked_siren": link.linked_siren, "relation": link.relation}
    session.delete(link)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="undertaking", object_id=before["siren"],
                 action="undertaking_unlink", before=before, reason=reason.strip())
