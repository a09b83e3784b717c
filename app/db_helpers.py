"""The request's single commit."""

from __future__ import annotations

from sqlalchemy.orm.exc import StaleDataError

from app.errors import Conflict
from app.extensions import db
from app.formatting import translate as _


def commit() -> None:
    """Commit the request's unit of work; a stale optimistic lock becomes a 409
    with a message, and nothing of the request is kept."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(_("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez.")) from None
    except Exception:
        db.session.rollback()
        raise
