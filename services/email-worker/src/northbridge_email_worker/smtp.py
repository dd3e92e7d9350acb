"""SMTP with a commit point: the send is recorded between a mail's body and its end-of-data.

A server accepts a message only when it reads the end-of-data mark (``<CRLF>.<CRLF>``,
RFC 5321 section 4.1.1.4); a connection lost before it aborts the transaction. Recording
the mail as sent just before that mark leaves no window for a second mail: a worker
killed before the record leaves nothing accepted, so a retry may send; one killed after it
had sent, or was about to send, the mark. The window the other way, for a lost mail, is the
few microseconds between the record's acknowledgement and the mark's write. Recording after
the server's reply instead would leave a millisecond (the reply, the round trip to Redis)
in which a kill makes a second mail: measured with the SIGKILLs of the chaos run, 8 of 49
killed jobs were mailed twice that way.
"""

import contextlib
import re
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

from northbridge_email_worker.settings import SmtpSettings

# RFC 5321 section 4.5.2: a line starting with "." gets a second one (dot-stuffing).
_LEADING_DOT = re.compile(rb"(?m)^\.")


class UnconfirmedError(Exception):
    """The end-of-data mark went out and no reply came back: accepted or not is unknown."""


class CommittingClient(smtplib.SMTP):
    """smtplib's client, running ``before_end_of_data`` between a body and its final dot."""

    before_end_of_data: Callable[[], None] = staticmethod(lambda: None)
    end_of_data_reply: tuple[int, bytes] = (0, b"")

    def data(self, msg: Any) -> tuple[int, bytes]:
        """Smtplib's DATA, with the commit point; ``send_message`` calls it with bytes."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", msg)
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        try:
            self.before_end_of_data()
        except BaseException:
            self.close()  # no end-of-data: the server drops the transaction, nothing waits
            raise
        self.send(b".\r\n")
        try:
            self.end_of_data_reply = self.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise UnconfirmedError(repr(error)) from error
        return self.end_of_data_reply


@contextlib.contextmanager
def session(smtp: SmtpSettings) -> Iterator[CommittingClient]:
    """A connected (and, if configured, encrypted and logged-in) client; QUIT on the way out.

    Connecting, STARTTLS and login raise ``smtplib.SMTPException`` or ``OSError``; QUIT and
    closing never raise: the outcome of a send is known before them.
    """
    client = CommittingClient(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        # The end-of-data mark goes out as a write of its own: with Nagle's algorithm it would
        # wait for the server's delayed ACK of the body, 40 ms a mail (measured: 28 mails/s).
        if client.sock is not None:
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if smtp.starttls:
            client.starttls(context=smtp.tls_context())
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password.get_secret_value())
        yield client
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def send(client: CommittingClient, message: Message, commit: Callable[[], None]) -> str:
    """Send ``message``, running ``commit`` just before the server can accept it.

    Answers the server's reply to the end of data (``250 ...``). Raises
    ``smtplib.SMTPException`` or ``OSError`` when the server did not accept it (before or
    after ``commit``), :class:`UnconfirmedError` when it may have.
    """
    client.before_end_of_data = commit
    try:
        client.send_message(message)
    finally:
        client.before_end_of_data = CommittingClient.before_end_of_data
    code, text = client.end_of_data_reply
    return f"{code} {text.decode(errors='replace')}"


class Mailer:
    """Sends mail over one SMTP connection kept open across mails (one per worker process).

    A new connection per mail (connect, greeting, EHLO, QUIT) cost about a third of a
    worker's time and most of the SMTP server's, measured with ``make bench``. A kept
    connection is replaced after ``smtp.mails_per_connection`` mails, when it has been idle
    for ``smtp.idle_s`` (servers drop idle clients), and after any error. A kept connection
    the server dropped meanwhile fails before the commit point, with nothing accepted: the
    mail is then sent once more on a new connection, within the same attempt.
    """

    def __init__(self, smtp: SmtpSettings) -> None:
        self._smtp = smtp
        self._stack = contextlib.ExitStack()
        self._client: CommittingClient | None = None
        self._mails = 0
        self._last_used = 0.0
        self.connections = 0  # opened so far

    def send(self, message: Message, commit: Callable[[], None]) -> str:
        """:func:`send` over the kept connection; the same errors, the same commit point."""
        reused = self._client is not None and self._fresh_enough()
        if not reused:
            self.close()
        committed = False

        def commit_once() -> None:
            nonlocal committed
            commit()
            committed = True

        try:
            reply = send(self._connected(), message, commit_once)
        except BaseException as error:
            self.close()
            if not (reused and not committed and _dropped(error)):
                raise
            reply = self.send(message, commit)  # the kept one was stale: nothing accepted
        self._mails += 1
        self._last_used = time.monotonic()
        if self._mails >= self._smtp.mails_per_connection:
            self.close()
        return reply

    def close(self) -> None:
        """QUIT and close the kept connection, if any (never raises)."""
        self._client = None
        self._mails = 0
        self._stack.close()

    def _fresh_enough(self) -> bool:
        # A connection idle this long may be one the server is about to drop.
        return time.monotonic() - self._last_used < self._smtp.idle_s

    def _connected(self) -> CommittingClient:
        if self._client is None:
            self._client = self._stack.enter_context(session(self._smtp))
            self.connections += 1
        return self._client


def _dropped(error: BaseException) -> bool:
    """Whether ``error`` says the server had closed the connection (421: closing)."""
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421  # RFC 5321: "service not available, closing"
    return isinstance(error, smtplib.SMTPServerDisconnected | OSError)
