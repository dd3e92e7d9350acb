"""An SMTP sink: accepts every mail and keeps it as one ``.eml`` file in a folder.

Run as ``python -m northbridge_stack.smtp_sink --host 127.0.0.1 --port 1025 --maildir DIR``
(what ``make up`` does), or from tests through :class:`SmtpSink`. Each file is written under
a hidden temporary name and renamed into place, so a reader never sees half a mail.
"""

import argparse
import asyncio
import email.policy
import logging
import signal
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP

from northbridge_shared.logging import configure
from northbridge_shared.settings import LogSettings, load
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.processes import POLL_S, ManagedProcess
from northbridge_stack.server import Server

log = structlog.get_logger("northbridge_stack.smtp_sink")


def store_mail(maildir: Path, mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> Path:
    """Write one mail as ``<time_ns>-<uuid>.eml``; file names sort in arrival order."""
    name = f"{time.time_ns()}-{uuid.uuid4().hex}"
    partial = maildir / f".{name}.partial"
    # The envelope is not part of the message (Bcc recipients appear nowhere else); keep it
    # in the X-MailFrom/X-RcptTo headers aiosmtpd's own Message handler uses.
    envelope = f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n".encode()
    partial.write_bytes(envelope + content)
    return partial.replace(maildir / f"{name}.eml")


def read_mail(maildir: Path) -> list[EmailMessage]:
    """Every mail kept in ``maildir``, oldest first, parsed with ``email.policy.default``."""
    parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(maildir.glob("*.eml"))]


def wait_for_mail(maildir: Path, count: int, timeout: float = 30.0) -> list[EmailMessage]:
    """Poll until at least ``count`` mails are kept, then return them all (oldest first)."""
    deadline = time.monotonic() + timeout
    while len(mails := read_mail(maildir)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(mails)} of {count} mails in {maildir} after {timeout} s")
        time.sleep(POLL_S)
    return mails


class MailKeeper:
    """The aiosmtpd handler: keeps each accepted mail with :func:`store_mail`."""

    def __init__(self, maildir: Path) -> None:
        """Keep mail in ``maildir`` (which must exist)."""
        self.maildir = maildir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Store the message, log one line about it and accept it."""
        content: bytes = envelope.original_content
        path = store_mail(self.maildir, envelope.mail_from, envelope.rcpt_tos, content)
        headers = BytesParser(policy=email.policy.default).parsebytes(content, headersonly=True)
        log.info(
            "mail received",
            file=path.name,
            mail_from=envelope.mail_from,
            rcpt_tos=envelope.rcpt_tos,
            message_id=headers["Message-ID"],
            subject=headers["Subject"],
            size=len(content),
        )
        return "250 OK kept"


class SmtpSink(Server):
    """The sink as a child process on 127.0.0.1:``port``, for tests and ``make up``."""

    def __init__(
        self,
        maildir: Path,
        port: int,
        *,
        log_file: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        """Describe the sink; by default its log and pid file sit beside ``maildir``."""
        super().__init__(
            ManagedProcess(
                "smtp-sink",
                log_file=log_file or maildir.parent / f"{maildir.name}-smtp-sink.log",
                pid_file=pid_file or maildir.parent / f"{maildir.name}-smtp-sink.pid",
            )
        )
        self.maildir = maildir
        self.port = port

    ready_what = "greeting"
    stop_timeout = 10.0

    def command(self) -> tuple[list[str], dict[str, str]]:
        """Run as `python -m` of this module, writing into the maildir."""
        self.maildir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "northbridge_stack.smtp_sink", "--host", LOOPBACK]
        argv += ["--port", str(self.port), "--maildir", str(self.maildir)]
        return argv, {"PYTHONUNBUFFERED": "1"}

    def serving(self) -> bool:
        """It greets with 220."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1.0) as connection:
                greeting = connection.recv(512)
                connection.sendall(b"QUIT\r\n")
        except OSError:
            return False
        return greeting.startswith(b"220")


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    args = _parse(argv)
    configure(load(LogSettings), "smtp-sink")
    # aiosmtpd logs every SMTP command at INFO; one line per mail is ours.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    args.maildir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(args.host, args.port, args.maildir))


async def _serve(host: str, port: int, maildir: Path) -> None:
    loop = asyncio.get_running_loop()
    keeper = MailKeeper(maildir)
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="northbridge-sink", enable_SMTPUTF8=True), host, port
    )
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    log.info("smtp sink listening", host=host, port=port, maildir=str(maildir))
    await stopping.wait()
    server.close()
    await server.wait_closed()
    log.info("smtp sink stopped")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m northbridge_stack.smtp_sink")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
