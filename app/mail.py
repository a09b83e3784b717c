"""Outgoing e-mail: SMTP when configured, otherwise written to the log.

Mail is always sent through the job queue after the commit
(``queue_mail``); ``deliver`` is the job function.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from app.jobs import enqueue_after_commit

log = logging.getLogger("guichet.mail")


def queue_mail(to: str, subject: str, body: str) -> None:
    enqueue_after_commit(deliver, to, subject, body, queue="mail")


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def deliver(to: str, subject: str, body: str) -> None:
    config = current_app.config
    msg = build_message(to, subject, body)
    backend = config["MAIL_BACKEND"]
    if backend == "smtp":
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(msg)
    elif backend == "memory":
        current_app.extensions.setdefault("guichet_outbox", []).append(msg)
    else:
        # The log backend: readable in the console and in instance/mail.log,
        # so a local user can follow a confirmation link without SMTP.
        text = f"To: {to}\nSubject: {subject}\n\n{body}\n" + "-" * 60 + "\n"
        log.info("mail (no SMTP configured)\n%s", text)
        path = Path(config["INSTANCE_DIR"]) / "mail.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
