"""Command-line interface: ``flask --app wsgi <command>``."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.extensions import db


def register(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(workflows_group)
    app.cli.add_command(tick_command)
    from app.ledger.cli import ledger_group

    app.cli.add_command(ledger_group)
    from app.exports_cli import export_group

    app.cli.add_command(export_group)
    from app.cli_letters import letters_group

    app.cli.add_command(letters_group)


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True,
              help="applicant, instructor, expert, committee, finance or admin; ROLE:CALL_REFERENCE scopes it to a call.")
@click.password_option(help="Asked for when not given.")
@with_appcontext
def create_user_command(email: str, name: str, roles: tuple[str, ...], password: str) -> None:
    """Create a confirmed account (staff are created this way or by an admin)."""
    from sqlalchemy import select

    from app.errors import UserFacingError
    from app.models import Call
    from app.operations.accounts import create_user

    parsed: list[tuple[str, int | None]] = []
    for spec in roles:
        role, _sep, call_ref = spec.partition(":")
        call_id = None
        if call_ref:
            call_id = db.session.execute(select(Call.id).where(Call.reference == call_ref)).scalar()
            if call_id is None:
                raise click.ClickException(f"unknown call {call_ref!r}")
        parsed.append((role, call_id))
    try:
        user = create_user(db.session, email=email, name=name, password=password, roles=parsed, actor=None, actor_role="system")
    except UserFacingError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created {user.email} with roles {', '.join(spec for spec in roles)}")


@click.command("seed-demo")
@click.option("--scale", type=click.IntRange(min=0), default=0, help="Also add N synthetic files.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo is already loaded.")
@with_appcontext
def seed_demo_command(scale: int, if_empty: bool) -> None:
    """Load the demo data (plan, calls, one account per role, files)."""
    from app.operations.demo import DEMO_ACCOUNTS, is_seeded, seed_demo, seed_scale

    if current_app.config["GUICHET_ENV"] == "production":
        raise click.ClickException("seed-demo is refused in production: demo accounts use the password 'demo'")
    if not is_seeded(db.session):
        summary = seed_demo(db.session)
        db.session.commit()
        click.echo(f"demo loaded: {summary['calls']} calls, {summary['users']} accounts, {summary['files']} files")
    else:
        click.echo("demo already loaded" + ("" if if_empty else ": nothing added"))
    click.echo("demo accounts (password: demo):")
    for email, _name, role in DEMO_ACCOUNTS:
        click.echo(f"  {role:<11} {email}")
    if scale:
        started = time.monotonic()
        n = seed_scale(db.session, scale)
        db.session.commit()
        click.echo(f"added {n} synthetic files in {time.monotonic() - started:.1f} s")


@click.command("worker")
@click.option("--queue", "queues", multiple=True, help="Queues to serve (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Serve the RQ queues (needs REDIS_URL)."""
    from app.jobs import QUEUES, make_worker

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: without Redis, jobs run in-process and need no worker")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = make_worker(app, queues or QUEUES)
    if not burst:
        from app.operations.schedule import ensure_tick_scheduled

        ensure_tick_scheduled()
    worker.work(burst=burst, with_scheduler=True)


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 at the first broken or altered row."""
    from sqlalchemy import func, select

    from app.audit import verify_chain
    from app.models import AuditEntry

    total = db.session.execute(select(func.count(AuditEntry.id))).scalar_one()
    for fault in verify_chain(db.session):
        click.echo(f"audit chain broken at row {fault.entry_id}: {fault.problem}", err=True)
        sys.exit(1)
    click.echo(f"audit chain intact: {total} rows")


@click.group("workflows")
def workflows_group() -> None:
    """Workflow definitions."""


@workflows_group.command("check")
def workflows_check() -> None:
    """Validate every workflow definition; exit 1 on any fault."""
    import workflows
    from workflows.eligibility import check_all_rules
    from workflows.time_limits import check_all_limits

    results = {**workflows.check_all(), **check_all_rules(), **check_all_limits(), **_check_effect_templates()}
    faulty = 0
    for name, problems in sorted(results.items()):
        if problems:
            faulty += 1
            click.echo(f"{name}: {len(problems)} problem(s)", err=True)
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
        else:
            click.echo(f"{name}: ok")
    if faulty:
        sys.exit(1)


def _check_effect_templates() -> dict[str, list[str]]:
    """Every ``notify`` and ``pdf`` effect of the definitions names a template the
    application has (a mail in ``app.notifications.TEMPLATES``, a renderer in
    ``app.documents.RENDERERS``), as do the notices swapped in for an aid that
    needs no agreement: a wrong name would otherwise fail in a job after commit."""
    from app.documents import RENDERERS
    from app.notifications import TEMPLATES
    from app.operations.transitions import NOTICES_WITHOUT_AGREEMENT
    from workflows.errors import DefinitionError
    from workflows.loader import available_definitions, load_definition

    known = {"notify": (TEMPLATES, "aucun modèle de courriel"), "pdf": (RENDERERS, "aucun modèle de document PDF")}
    results: dict[str, list[str]] = {}
    for name in available_definitions():
        try:
            definition = load_definition(name)
        except DefinitionError:
            continue  # its own problems are reported under its name
        problems = []
        for transition in definition.transitions:
            for effect in transition.effects:
                if effect.name in known and effect.params.get("template") not in known[effect.name][0]:
                    problems.append(f"transition « {transition.name} » : {known[effect.name][1]} "
                                    f"« {effect.params.get('template')} »")
        results[f"templates/{name}"] = problems
    missing = [t for t in NOTICES_WITHOUT_AGREEMENT.values() if t not in TEMPLATES]
    if missing:
        results.setdefault("templates/sans_convention", []).extend(f"aucun modèle de courriel « {t} »" for t in missing)
    return results


@workflows_group.command("migrate")
@click.argument("call_reference")
@click.option("--dry-run", is_flag=True, help="Only show what would move and what blocks.")
@with_appcontext
def workflows_migrate(call_reference: str, dry_run: bool) -> None:
    """Move a call's files to the current version of its workflow definition."""
    from sqlalchemy import select

    from app.errors import UserFacingError
    from app.models import Call
    from app.operations.workflow_migration import migrate_call_files, plan_migration

    call = db.session.execute(select(Call).where(Call.reference == call_reference)).scalar_one_or_none()
    if call is None:
        raise click.ClickException(f"unknown call {call_reference!r}")
    plan = plan_migration(db.session, call)
    for v in plan.versions:
        status = "current" if v.hash == plan.target_hash else ("compatible" if v.compatible else "BLOCKED")
        click.echo(f"{v.hash[:12]} {v.label:<10} {v.files:>7} files  {status}")
        for problem in v.problems:
            click.echo(f"    - {problem}")
    if dry_run:
        db.session.rollback()
        return
    try:
        moved = migrate_call_files(db.session, call, None, role="system")
    except UserFacingError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"{moved} file(s) moved to {plan.target_hash[:12]}")


@click.command("tick")
@with_appcontext
def tick_command() -> None:
    """Close due calls, freeze their drafts, send reminders, fire time-based transitions."""
    from app.operations.schedule import tick

    report = tick(db.session)
    click.echo(f"calls closed: {len(report.calls_closed)}, drafts frozen: {len(report.drafts_frozen)}, "
               f"reminders: {len(report.reminders)}, transitions: {len(report.transitions)}")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    if report.errors:
        sys.exit(1)
