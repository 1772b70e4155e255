"""SMTP delivery: STARTTLS or implicit TLS, optional login, timeouts, per-recipient outcome.

A refused recipient is reported, not raised: the message still goes to the others. A broken
connection fails the message in hand; the next message reconnects. The password is read
from the environment variable named in ``[smtp] password_env`` only when connecting.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from types import TracebackType

from finops.config import SmtpConfig, secret_from_env
from finops.errors import DataError, redact


class SendError(DataError):
    """A message could not be handed to the SMTP server at all (connection, TLS, auth)."""


def _reason(code: int, text: bytes | str) -> str:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {msg}".strip()


class SmtpTransport:
    """One SMTP session reused for several messages (``with SmtpTransport(cfg) as t: t.send(m)``)."""

    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        """``smtp host:port`` for messages."""
        return f"smtp {self.cfg.host}:{self.cfg.port}"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.cfg.cafile:
            ctx.load_verify_locations(cafile=str(self.cfg.cafile))
        return ctx

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        try:
            smtp: smtplib.SMTP
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=self._context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
                if cfg.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
            if cfg.username:
                password = secret_from_env(cfg.password_env, "smtp.password_env")
                smtp.login(cfg.username, password.reveal() if password else "")
        except smtplib.SMTPAuthenticationError as e:
            raise SendError(f"{self.where}: login as {cfg.username!r} refused: "
                            f"{_reason(e.smtp_code, e.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError:
            raise SendError(f"{self.where}: the server does not offer "
                            f"{'STARTTLS' if cfg.security == 'starttls' else 'AUTH'}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise SendError(f"{self.where}: cannot connect: {redact(str(e)) or type(e).__name__}") from None
        return smtp

    def send(self, msg: EmailMessage) -> dict[str, str]:
        """Send ``msg`` to its To/Cc recipients; returns the refused ones with the server's reason.

        Raises :class:`SendError` when the message could not be handed over at all.
        """
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            return {addr: _reason(code, text) for addr, (code, text) in e.recipients.items()}
        except (smtplib.SMTPException, OSError) as e:
            self.close()  # the session is in an unknown state: the next message reconnects
            reason = redact(str(e)) or type(e).__name__
            raise SendError(f"{self.where}: {msg['Subject']!s}: {reason}") from None
        return {addr: _reason(code, text) for addr, (code, text) in refused.items()}

    def close(self) -> None:
        """End the session (QUIT), ignoring a connection that is already gone."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
