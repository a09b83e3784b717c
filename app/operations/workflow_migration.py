"""Moving a call's files from the workflow version they run on to the
current one: an explicit admin operation, checked for compatibility
(``workflows.check_migration``) and audited file by file."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import workflows
from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.models import Application, Call, User
from app.workflow_versions import definition_for, publish


@dataclass
class VersionInUse:
    hash: str
    label: str
    files: int
    states: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.problems


@dataclass
class MigrationPlan:
    call: Call
    target_hash: str
    target_label: str
    versions: list[VersionInUse]

    @property
    def to_move(self) -> list[VersionInUse]:
        return [v for v in self.versions if v.hash != self.target_hash]

    @property
    def blocked(self) -> bool:
        return any(not v.compatible for v in self.to_move)


def plan_migration(session: Session, call: Call) -> MigrationPlan:
    """Which versions the call's files run on, and whether each can move to the
    definition now on disk (published if needed)."""
    target = publish(session, call.workflow_name)
    new = definition_for(session, target.hash)
    rows = session.execute(
        select(Application.workflow_version, Application.state, func.count())
        .where(Application.call_id == call.id).group_by(Application.workflow_version, Application.state)
    ).all()
    by_version: dict[str, dict[str, int]] = {}
    for version_hash, state, count in rows:
        by_version.setdefault(version_hash, {})[state] = count
    versions = []
    for version_hash, states in sorted(by_version.items()):
        old = definition_for(session, version_hash)
        problems = [] if version_hash == target.hash else [str(p) for p in workflows.check_migration(old, new, set(states))]
        versions.append(VersionInUse(version_hash, str(old.version or ""), sum(states.values()), states, problems))
    return MigrationPlan(call, target.hash, str(new.version or ""), versions)


def migrate_call_files(session: Session, call: Call, actor: User | None, *, role: str = "admin") -> int:
    """Re-point every file of ``call`` to the current definition. All or
    nothing: refused with every problem when one version is incompatible."""
    plan = plan_migration(session, call)
    if plan.blocked:
        problems = [f"{v.hash[:12]} : {p}" for v in plan.to_move for p in v.problems]
        raise UserFacingError(_("Migration impossible : %(p)s", p=" ; ".join(problems)), status=409)
    moved = 0
    for version in plan.to_move:
        references = session.execute(
            select(Application.reference).where(Application.call_id == call.id,
                                                Application.workflow_version == version.hash)
        ).scalars().all()
        session.execute(
            update(Application)
            .where(Application.call_id == call.id, Application.workflow_version == version.hash)
            .values(workflow_version=plan.target_hash, version=Application.version + 1)
            .execution_options(synchronize_session=False)
        )
        for reference in references:
            audit.record(session, actor=actor, role=role, object_type="application", object_id=reference,
                         action="migrate_workflow", before={"workflow_version": version.hash},
                         after={"workflow_version": plan.target_hash})
        moved += len(references)
    session.expire_all()
    return moved
