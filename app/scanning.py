"""The antivirus hook for uploaded files.

``get_scanner()`` returns a ``ClamdScanner`` when ``CLAMAV_SOCKET`` (a unix
socket) or ``CLAMAV_HOST`` (+ ``CLAMAV_PORT``) is configured, else
``NoScanner``:

* no scanner: attachments are stored as ``not_scanned`` and can be downloaded;
* a scanner: attachments are stored as ``pending``; ``scan_attachment`` (a job
  queued after the commit, queue "default") streams the file to clamd and sets
  ``clean``, ``infected`` or ``error``, with an audit row. Only ``clean`` (or
  ``not_scanned``) files are ever served.

The clamd client is written here (about forty lines over ``socket``): clamd's
INSTREAM protocol is small and stable, and the ``clamd`` PyPI package has had
no release since 2014. Protocol (clamd(8)): send ``zINSTREAM\\0``, then chunks
each prefixed by their length as a 4-byte big-endian integer, then a zero
length; clamd answers ``stream: OK``, ``stream: <signature> FOUND`` or
``<message> ERROR`` (e.g. ``INSTREAM size limit exceeded. ERROR``), ended by
``\\0``.
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import current_app

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 120.0
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ScanResult:
    status: str  # clean | infected | error
    detail: str | None = None  # the signature found, or the error


class Scanner(Protocol):
    configured: bool

    def scan_file(self, path: Path) -> ScanResult: ...


class NoScanner:
    """No antivirus configured: files are stored as ``not_scanned``."""

    configured = False

    def scan_file(self, path: Path) -> ScanResult:  # pragma: no cover - never called
        raise RuntimeError("no scanner is configured")


class ClamdScanner:
    """A clamd client speaking INSTREAM over a unix socket or TCP."""

    configured = True

    def __init__(self, *, socket_path: str | None = None, host: str | None = None, port: int = 3310,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        if not socket_path and not host:
            raise ValueError("ClamdScanner needs a unix socket path or a host")
        self.socket_path = socket_path
        self.host = host
        self.port = port
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if self.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection((self.host, self.port), timeout=self.timeout)

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if len(data) > 64 * 1024:
                break
        return data.rstrip(b"\0").decode("utf-8", "replace").strip()

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return self._reply(sock) == "PONG"
        except OSError:
            return False

    def scan_file(self, path: Path) -> ScanResult:
        try:
            with self._connect() as sock, path.open("rb") as f:
                sock.sendall(b"zINSTREAM\0")
                while chunk := f.read(CHUNK):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                reply = self._reply(sock)
        except OSError as exc:
            # clamd closes the connection when a stream passes its StreamMaxLength:
            # the reply may then be lost in a reset.
            return ScanResult("error", f"clamd: {exc}")
        return parse_reply(reply)


def parse_reply(reply: str) -> ScanResult:
    """``stream: OK`` → clean; ``stream: Eicar-Signature FOUND`` → infected;
    anything else (``… ERROR``, an empty or garbled reply) → error."""
    _label, _sep, verdict = reply.partition(": ")
    verdict = verdict.strip() if _sep else reply.strip()
    if verdict == "OK":
        return ScanResult("clean")
    if verdict.endswith(" FOUND"):
        return ScanResult("infected", verdict[: -len(" FOUND")].strip() or None)
    return ScanResult("error", reply[:200] or "no reply")


def get_scanner() -> Scanner:
    config = current_app.config
    if config.get("CLAMAV_SOCKET"):
        return ClamdScanner(socket_path=config["CLAMAV_SOCKET"])
    if config.get("CLAMAV_HOST"):
        return ClamdScanner(host=config["CLAMAV_HOST"], port=int(config.get("CLAMAV_PORT") or 3310))
    return NoScanner()


def scan_attachment(attachment_id: int) -> None:
    """Job: scan one pending attachment and record the verdict.

    Runs at most once per attachment: the verdict is written by a conditional
    UPDATE (``WHERE scan_status = 'pending'``), so a second run of the same job
    changes nothing and writes no audit row. A file deleted in the meantime
    (replaced in a draft) is skipped."""
    from sqlalchemy import update

    from app import audit
    from app.extensions import db
    from app.models import Application, Attachment, utcnow
    from app.uploads import stored_path

    session = db.session
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.scan_status != "pending":
        session.rollback()
        return
    stored_name = attachment.stored_name
    reference = session.get(Application, attachment.application_id).reference
    session.rollback()  # no transaction (nor SQLite write lock) held while clamd reads the file

    scanner = get_scanner()
    path = stored_path(stored_name)
    if not scanner.configured:
        result = ScanResult("error", "no scanner configured")
    elif not path.exists():
        result = ScanResult("error", "stored file missing")
    else:
        result = scanner.scan_file(path)
    if result.status != "clean":
        log.warning("attachment %s scanned: %s (%s)", attachment_id, result.status, result.detail)

    changed = session.execute(
        update(Attachment)
        .where(Attachment.id == attachment_id, Attachment.scan_status == "pending")
        .values(scan_status=result.status, scanned_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.rollback()
        return
    audit.record(session, actor=None, role="system", object_type="application", object_id=reference,
                 action="scan_attachment", before={"attachment_id": attachment_id, "scan_status": "pending"},
                 after={"attachment_id": attachment_id, "scan_status": result.status, "detail": result.detail})
    session.commit()
