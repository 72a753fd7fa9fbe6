"""Sending login codes: SMTP (TLS), a Slack webhook, or the console in development.

Codes leave through a queue worked by a background task, so ``POST /api/auth/otp/request``
answers in the same time whether or not the email may log in (no timing oracle), and a slow
mail server never holds a request. The code itself never reaches a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import sys
from email.message import EmailMessage
from typing import Protocol

import httpx
import structlog

from polyarb.config import Settings
from polyarb.domain.errors import ConfigError

log = structlog.get_logger(__name__)

SUBJECT = "Your polyarb login code"


class Sender(Protocol):
    name: str

    async def send(self, email: str, code: str, minutes: int) -> None: ...


def _text(code: str, minutes: int) -> str:
    return (
        f"Your polyarb dashboard code is {code}\n\n"
        f"It is valid for {minutes} minutes and can be used once.\n"
        "If you did not ask for it, ignore this message.\n"
    )


class SmtpSender:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._from = settings.smtp_from or f"polyarb@{settings.smtp_host}"
        self._security = settings.smtp_security
        self._timeout = settings.smtp_timeout_s

    def _send_blocking(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._security == "tls":
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._security == "starttls":
                smtp.starttls(context=context)
            if self._user and self._password is not None:
                smtp.login(self._user, self._password.get_secret_value())
            smtp.send_message(message)

    async def send(self, email: str, code: str, minutes: int) -> None:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = email
        message["Subject"] = SUBJECT
        message.set_content(_text(code, minutes))
        await asyncio.to_thread(self._send_blocking, message)


class SlackSender:
    """Posts the code to the team's webhook channel (as the seed did): only for a private one."""

    name = "slack"

    def __init__(self, webhook_url: str, timeout_s: float) -> None:
        self._url = webhook_url
        self._timeout = timeout_s

    async def send(self, email: str, code: str, minutes: int) -> None:
        text = f"polyarb login code for {email}: {code} (valid {minutes} min, single use)"
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._url, json={"text": text})
            response.raise_for_status()


class ConsoleSender:
    name = "console"

    async def send(self, email: str, code: str, minutes: int) -> None:
        print(f"polyarb: login code for {email}: {code} (valid {minutes} min)", file=sys.stderr)


def make_sender(settings: Settings) -> Sender:
    choice = settings.otp_delivery
    if choice == "auto":
        if settings.smtp_host:
            choice = "smtp"
        elif settings.slack_webhook_url is not None:
            choice = "slack"
        else:
            choice = "console"
    if choice == "smtp":
        if not settings.smtp_host:
            raise ConfigError("OTP_DELIVERY=smtp needs SMTP_HOST")
        return SmtpSender(settings)
    if choice == "slack":
        if settings.slack_webhook_url is None:
            raise ConfigError("OTP_DELIVERY=slack needs SLACK_WEBHOOK_URL")
        return SlackSender(settings.slack_webhook_url.get_secret_value(), settings.smtp_timeout_s)
    if settings.app_env == "production":
        raise ConfigError(
            "login codes would go to the console: set SMTP_HOST (or OTP_DELIVERY=slack with "
            "SLACK_WEBHOOK_URL) when APP_ENV=production"
        )
    return ConsoleSender()


class CodeMailer:
    """A bounded queue of codes to send and the task sending them."""

    def __init__(self, sender: Sender, *, max_queue: int = 100) -> None:
        self.sender = sender
        self._queue: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="otp-mailer")

    async def close(self, *, wait_s: float = 5.0) -> None:
        """Stop; a code being sent gets ``wait_s`` to finish (its thread cannot be cancelled)."""
        if self._sending is not None and not self._sending.done():
            await asyncio.wait({self._sending}, timeout=wait_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def enqueue(self, email: str, code: str, minutes: int) -> bool:
        try:
            self._queue.put_nowait((email, code, minutes))
        except asyncio.QueueFull:
            log.warning("otp.delivery_queue_full", via=self.sender.name)
            return False
        return True

    async def _run(self) -> None:
        while True:
            email, code, minutes = await self._queue.get()
            self._sending = asyncio.create_task(self.sender.send(email, code, minutes))
            try:
                await asyncio.shield(self._sending)
                self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed delivery must not stop the others
                self.failed += 1
                log.warning("otp.delivery_failed", via=self.sender.name, error=type(exc).__name__)
