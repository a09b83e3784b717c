"""``flask --app wsgi letters export --out FILE.zip [--session ID]``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.extensions import db


@click.group("letters")
def letters_group() -> None:
    """Decision letters."""


@letters_group.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The ZIP file to write.")
@click.option("--session", "session_id", default=None,
              help="The committee session (provisionally: the deliberation prefix); default: the latest decided one.")
@with_appcontext
def export_command(out: Path, session_id: str | None) -> None:
    """Write the decision letters of a session's files as one ZIP (one PDF per file)."""
    from app.operations.letters import build_letters_zip, files_of_session, latest_session

    session_id = session_id or latest_session(db.session)
    if session_id is None:
        raise click.ClickException("no decided file: nothing to export")
    ids = files_of_session(db.session, session_id)
    if not ids:
        raise click.ClickException(f"no decided file in the session {session_id!r}")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with click.progressbar(length=len(ids), label=f"session {session_id}") as bar:
        last = [0]

        def progress(done: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        n = build_letters_zip(db.session, ids, out, progress)
    db.session.commit()  # letters generated on the way are stored as new versions
    click.echo(f"{n} letter(s) written to {out}")
