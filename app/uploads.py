"""Receiving uploaded files: checks, storage outside the web root, helpers for
the templates.

What an upload goes through (``store_upload``):

1. **Streamed to disk** in chunks, into ``UPLOAD_FOLDER/.tmp`` (same file
   system as the final place), computing its SHA-256 and size as it goes; it
   stops as soon as the field's ``max_bytes`` is passed (413). The request body
   as a whole is capped by Flask's ``MAX_CONTENT_LENGTH`` (413 too).
2. **Real content type** detected from the bytes by libmagic (python-magic),
   never from the name or the browser's ``Content-Type``; it must be one of the
   field's ``accept`` types (415).
3. **Extension**: the name's last extension, when it is a known one, must belong
   to the detected type (415): ``facture.pdf.exe`` with PDF content is refused
   (a user who opens it from their downloads would run it as a program), and so
   is a PNG named ``.pdf``. An unknown suffix (``Bilan v1.2``) counts as none.
4. **Cheap polyglot checks** (415), see ``_polyglot_reason``:
   - the format's signature at offset 0 (``%PDF-``, PNG, JPEG, ``PK\\3\\4``):
     nothing may be prepended to it;
   - no HTML or script markers (``<html``, ``<script``, ``<svg``, ``<iframe``…)
     in the first KiB, the window browsers sniff;
   - no ZIP end-of-central-directory record (with plausible offsets) near the
     end of a file that is not itself a ZIP-based format: ZIP readers look
     for it from the end, so a PDF or image with a ZIP appended opens as both.
   Active PDF content (JavaScript, /Launch) is left to the antivirus: refusing
   ``/JavaScript`` would refuse filled-in cerfa forms, and PDF names can be
   hex-escaped (``/J#61vaScript``), so a byte search would promise too much.
5. **Stored** under ``UPLOAD_FOLDER/<2 hex>/<32 random hex>`` by an atomic
   rename. The original name is only kept, sanitised (``display_name``), for
   display and as the download name; it never reaches the file system.

Downloads are served with ``Content-Disposition: attachment``, the detected
type and ``nosniff``, so a file is never rendered by the browser as a page.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import secrets
import struct
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable

from babel.numbers import format_decimal
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from app.errors import UserFacingError
from app.formatting import _locale
from app.formatting import translate as _

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")

# Types a form may accept, their extensions (the first is the canonical one)
# and the short label shown to applicants.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
    "application/vnd.oasis.opendocument.text": (".odt",),
    "application/vnd.oasis.opendocument.spreadsheet": (".ods",),
    "application/vnd.oasis.opendocument.presentation": (".odp",),
    "text/csv": (".csv",),
    "text/plain": (".txt",),
}
LABELS: dict[str, str] = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (DOCX)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (XLSX)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (PPTX)",
    "application/vnd.oasis.opendocument.text": "OpenDocument texte (ODT)",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument tableur (ODS)",
    "application/vnd.oasis.opendocument.presentation": "OpenDocument présentation (ODP)",
    "text/csv": "CSV",
    "text/plain": "texte (TXT)",
}
# Spellings found in form definitions, and what libmagic reports for a type it
# cannot tell apart from another (a CSV file is plain text to it).
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}
DETECTED_AS = {"text/csv": {"text/plain", "application/csv"}}
ZIP_BASED = {
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
}
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    **{mime: (b"PK\x03\x04",) for mime in ZIP_BASED},
}
HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<object", b"<embed",
                b"<meta", b"<a href", b"<img", b"<style", b"<title", b"<?php", b"javascript:")
# Extensions that are never a document, whatever the system's MIME table says.
EXECUTABLE = {".exe", ".com", ".bat", ".cmd", ".scr", ".pif", ".msi", ".msp", ".dll", ".cpl", ".js", ".jse", ".vbs",
              ".vbe", ".wsf", ".wsh", ".hta", ".ps1", ".psm1", ".lnk", ".jar", ".sh", ".app", ".reg", ".iso", ".img"}
_KNOWN = mimetypes.MimeTypes()  # Python's own table, not the machine's /etc/mime.types


class UploadRefused(UserFacingError):
    """A file refused before anything was stored (413, 415 or 422)."""

    status = 422


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    original_name: str
    content_type: str
    size_bytes: int
    sha256: str


# --------------------------------------------------------------------------- names


def display_name(raw: str | None) -> str:
    """The name sent by the browser, made safe to show and to offer as a
    download name: last path component only (``../../etc/passwd.pdf`` →
    ``passwd.pdf``), Unicode NFC, no control or format characters (the
    right-to-left override that disguises ``fdp.exe`` as ``exe.pdf``), no
    characters Windows forbids, no leading or trailing dots or spaces, at most
    150 characters. Never used on disk."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = " ".join(name.split()).strip(". ")
    if len(name) > 150:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 10 else ""
        name = stem[: 150 - len(ext)].rstrip(". ") + ext
    return name or _("fichier")


def extension_of(name: str) -> str | None:
    """The name's last extension when it means something (a known file type),
    else None: ``Bilan v1.2`` has no extension, ``a.pdf.exe`` has ``.exe``."""
    ext = os.path.splitext(name)[1].lower()
    if not ext:
        return None
    known = ext in EXECUTABLE or ext in _KNOWN.types_map[True] or ext in _KNOWN.types_map[False]
    known = known or any(ext in exts for exts in EXTENSIONS.values())
    return ext if known else None


def download_name(original_name: str, content_type: str) -> str:
    """The name offered on download: the sanitised original name, with the
    detected type's extension added when it has none."""
    name = display_name(original_name)
    exts = EXTENSIONS.get(content_type, ())
    if exts and extension_of(name) not in exts:
        name += exts[0]
    return name


# --------------------------------------------------------------------------- field helpers (templates too)


def normalise_mime(mime: str) -> str:
    mime = (mime or "").strip().lower()
    return ALIASES.get(mime, mime)


def accepted_types(field: dict[str, Any]) -> list[str]:
    """The field's ``accept`` list, normalised; PDF when the form says nothing."""
    accept = field.get("accept") or ["application/pdf"]
    if isinstance(accept, str):
        accept = [accept]
    return list(dict.fromkeys(normalise_mime(m) for m in accept))


def max_bytes_for(field: dict[str, Any]) -> int:
    """The field's ``max_bytes``, never above the request limit."""
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    value = field.get("max_bytes")
    try:
        value = int(value) if value is not None else None
    except (TypeError, ValueError):
        value = None
    return min(value, limit) if value and value > 0 else limit


def accept_attribute(field: dict[str, Any]) -> str:
    """The ``accept`` attribute of the file input: types and extensions."""
    parts: list[str] = []
    for mime in accepted_types(field):
        parts.append(mime)
        parts.extend(EXTENSIONS.get(mime, ()))
    return ",".join(parts)


def accept_label(field: dict[str, Any]) -> str:
    return ", ".join(LABELS.get(m, m) for m in accepted_types(field))


def human_size(size: int | None, locale: str | None = None) -> str:
    """``2_621_440`` → ``2,5 Mo`` (French units: octets, Ko, Mo)."""
    if size is None:
        return "—"
    loc = locale or _locale()
    babel_locale = "fr_FR" if loc == "fr" else "en_GB"
    if size < 1024:
        return _("%(n)s octets", n=format_decimal(size, locale=babel_locale))
    if size < 1024 * 1024:
        return _("%(n)s Ko", n=format_decimal(round(size / 1024, 1), format="#,##0.#", locale=babel_locale))
    return _("%(n)s Mo", n=format_decimal(round(size / (1024 * 1024), 1), format="#,##0.#", locale=babel_locale))


SCAN_LABELS = {
    "pending": "Analyse antivirus en cours",
    "clean": "Analysé : aucun virus",
    "infected": "Virus détecté : fichier bloqué",
    "error": "Analyse antivirus impossible : fichier bloqué",
    "not_scanned": "Non analysé",
}


def scan_status_label(status: str) -> str:
    return _(SCAN_LABELS.get(status, status))


# --------------------------------------------------------------------------- storage


def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def stored_path(stored_name: str) -> Path:
    """Where a stored file lives. Refuses anything but 32 hex digits, so a
    database value can never point outside the upload folder."""
    if not STORED_NAME.match(stored_name or ""):
        raise ValueError(f"not a stored file name: {stored_name!r}")
    return upload_root() / stored_name[:2] / stored_name


def remove_stored_file(stored_name: str) -> None:
    """Delete a stored file (a job, queued after the commit that dropped its row)."""
    try:
        stored_path(stored_name).unlink(missing_ok=True)
    except ValueError:
        log.warning("refusing to delete %r: not a stored file name", stored_name)


def send_attachment(attachment: Any):
    """The stored file of an ``Attachment`` as a download, never rendered by
    the browser: ``Content-Disposition: attachment``, the detected type,
    ``nosniff`` and a sandboxing CSP. The caller checks the permission
    (``operations.attachments.can_download``) and the antivirus verdict
    (``download_blocked_reason``) first."""
    from flask import abort, send_file

    path = stored_path(attachment.stored_name)
    if not path.is_file():
        log.error("attachment %s: stored file %s is missing", attachment.id, attachment.stored_name)
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=download_name(attachment.original_name, attachment.content_type),
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


_magic_lock = threading.Lock()
_magic: Any = None


def detect_type(path: Path) -> str:
    """The MIME type of a file from its bytes (libmagic)."""
    global _magic
    with _magic_lock:
        if _magic is None:
            try:
                import magic
            except ImportError as exc:  # python-magic installed, the C library missing
                raise RuntimeError("libmagic is missing: apt-get install -y --no-install-recommends libmagic1") from exc
            _magic = magic.Magic(mime=True)
        return str(_magic.from_file(str(path))).lower()


def _eocd_present(tail: bytes, tail_offset: int, size: int) -> bool:
    """Whether ``tail`` (the last bytes of a file of ``size`` bytes, starting
    at ``tail_offset``) holds a plausible ZIP end-of-central-directory record:
    the signature, a comment that fits in the file and a central directory
    that ends before the record. Random bytes almost never pass all three."""
    start = 0
    while (index := tail.find(b"PK\x05\x06", start)) != -1:
        start = index + 1
        record = tail[index : index + 22]
        if len(record) < 22:
            continue
        cd_size, cd_offset, comment_len = struct.unpack("<IIH", record[12:22])
        position = tail_offset + index
        if position + 22 + comment_len <= size and cd_offset + cd_size <= position:
            return True
    return False


def _polyglot_reason(path: Path, content_type: str, size: int) -> str | None:
    with path.open("rb") as f:
        head = f.read(1024)
        signatures = SIGNATURES.get(content_type)
        if signatures and not head.startswith(signatures):
            return _("des données précèdent l'en-tête du format")
        lowered = head.lower()
        if content_type not in ZIP_BASED and any(marker in lowered for marker in HTML_MARKERS):
            return _("il contient du code HTML ou du script")
        if content_type not in ZIP_BASED:
            tail_len = min(size, 22 + 65535 + 22)
            f.seek(size - tail_len)
            if _eocd_present(f.read(tail_len), size - tail_len, size):
                return _("il contient aussi une archive ZIP")
    return None


def _copy_to(stream: BinaryIO, target: BinaryIO, max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise UploadRefused(
                _("Le fichier dépasse la taille maximale autorisée pour cette pièce (%(max)s).", max=human_size(max_bytes)),
                status=413,
            )
        digest.update(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


def check_and_store(stream: BinaryIO, filename: str | None, *, accept: Iterable[str], max_bytes: int) -> StoredFile:
    """Stream ``stream`` to disk and check it (see the module docstring). On
    any refusal nothing is left on disk and ``UploadRefused`` is raised."""
    accept = [normalise_mime(m) for m in accept]
    name = display_name(filename)
    root = upload_root()
    tmp_dir = root / ".tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / secrets.token_hex(16)
    try:
        with tmp.open("xb") as target:
            size, sha256 = _copy_to(stream, target, max_bytes)
        if size == 0:
            raise UploadRefused(_("Le fichier envoyé est vide."), status=422)
        detected = detect_type(tmp)
        labels = ", ".join(LABELS.get(m, m) for m in accept)
        ext = extension_of(name)
        content_type = detected
        if detected not in accept:
            # libmagic cannot tell some types apart (CSV is plain text to it): the extension decides between them.
            content_type = next((m for m in accept if detected in DETECTED_AS.get(m, ()) and ext in EXTENSIONS.get(m, ())), "")
        if not content_type:
            raise UploadRefused(
                _("Le contenu de ce fichier (%(detected)s) n'est pas accepté pour cette pièce. Formats acceptés : %(types)s.",
                  detected=LABELS.get(detected, detected), types=labels),
                status=415,
            )
        if ext is not None and ext not in EXTENSIONS.get(content_type, ()):
            raise UploadRefused(
                _("L'extension « %(ext)s » du nom du fichier ne correspond pas à son contenu (%(type)s) : renommez-le ou envoyez le bon fichier.",
                  ext=ext, type=LABELS.get(content_type, content_type)),
                status=415,
            )
        reason = _polyglot_reason(tmp, content_type, size)
        if reason:
            raise UploadRefused(_("Ce fichier est refusé : %(reason)s. Enregistrez-le de nouveau depuis son logiciel d'origine.", reason=reason),
                                status=415)
        stored_name = secrets.token_hex(16)
        final = stored_path(stored_name)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        return StoredFile(stored_name=stored_name, original_name=name, content_type=content_type, size_bytes=size, sha256=sha256)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- files written by a transaction that does not commit

_NEW_FILES = "guichet_new_files"


def discard_on_rollback(session: Session, stored_name: str) -> None:
    """Delete the stored file if the current transaction does not commit, so a
    failed request leaves no orphan file behind."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_NEW_FILES, []).append((transaction, stored_path(stored_name)))


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    # Also called when a savepoint is released: the files then stay tracked
    # until the outer transaction ends.
    if session.get_nested_transaction() is None:
        session.info.pop(_NEW_FILES, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_files(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_NEW_FILES)
    if not pending:
        return
    keep = []
    for transaction, path in pending:
        if _within(transaction, previous_transaction):
            path.unlink(missing_ok=True)
        else:
            keep.append((transaction, path))
    session.info[_NEW_FILES] = keep


@event.listens_for(Session, "after_transaction_end")
def _drop_files_of_uncommitted_transaction(session: Session, transaction: Any) -> None:
    # The outer transaction ended without a commit (which would have emptied
    # the list first): a session closed after an error, without a rollback.
    if transaction.parent is None and not transaction.nested:
        for _transaction, path in session.info.pop(_NEW_FILES, []):
            path.unlink(missing_ok=True)
