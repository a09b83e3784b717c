"""Writing and verifying the hash-chained audit trail.

``record()`` is called by operations inside the request's transaction, so the
audit row commits or rolls back with the change it describes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import GENESIS_HASH, AuditEntry, utcnow

# Any constant key: serialises writers of the audit chain on PostgreSQL.
_PG_AUDIT_LOCK = 7_300_001


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compute_hash(
    prev_hash: str,
    at: datetime,
    actor_id: int | None,
    actor_role: str | None,
    object_type: str,
    object_id: str,
    action: str,
    before: Any,
    after: Any,
    reason: str | None,
) -> str:
    payload = _canonical(
        {
            "prev": prev_hash,
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": actor_id,
            "role": actor_role,
            "type": object_type,
            "id": object_id,
            "action": action,
            "before": before,
            "after": after,
            "reason": reason,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _last_hash(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    return last or GENESIS_HASH


def record(
    session: Session,
    *,
    actor: Any | None,
    role: str | None,
    object_type: str,
    object_id: Any,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Append one audit row in the current transaction (flushed, not committed)."""
    session.flush()  # the object being audited must have its id
    prev = _last_hash(session)
    at = utcnow()
    actor_id = getattr(actor, "id", actor)
    before = json.loads(_canonical(before)) if before is not None else None
    after = json.loads(_canonical(after)) if after is not None else None
    entry = AuditEntry(
        at=at,
        actor_id=actor_id,
        actor_role=role,
        object_type=object_type,
        object_id=str(object_id),
        action=action,
        before=before,
        after=after,
        reason=reason,
        prev_hash=prev,
    )
    entry.hash = compute_hash(prev, at, actor_id, role, object_type, str(object_id), action, before, after, reason)
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainFault:
    entry_id: int
    problem: str


def verify_chain(session: Session, batch: int = 5000) -> Iterator[ChainFault]:
    """Recompute every hash in id order; yield each fault (caller may stop at the first)."""
    expected_prev = GENESIS_HASH
    last_id = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).scalars().all()
        if not rows:
            return
        for row in rows:
            if row.prev_hash != expected_prev:
                yield ChainFault(row.id, "prev_hash does not match the previous row (row removed or inserted)")
            recomputed = compute_hash(
                row.prev_hash, row.at, row.actor_id, row.actor_role, row.object_type,
                row.object_id, row.action, row.before, row.after, row.reason,
            )
            if recomputed != row.hash:
                yield ChainFault(row.id, "content does not match its hash (row altered)")
            expected_prev = row.hash
            last_id = row.id
        session.expunge_all()
