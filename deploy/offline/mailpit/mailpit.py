#!/usr/bin/python3
"""A stand-in for Mailpit (axllent/mailpit) on machines whose Docker engine cannot pull images.

It does the part of Mailpit's job the northbridge stack relies on, with Mailpit's own names and
JSON shapes (internal/storage/structs.go, server/apiv1/*.go, server/ui/api/v1/swagger.json):

- SMTP on port 1025 (``MP_SMTP_BIND_ADDR`` or ``--smtp``) accepts every message, with Mailpit's
  touches to it: a ``Return-Path`` from the envelope sender, a ``Message-ID`` if there is none,
  envelope recipients missing from the headers added as ``Bcc``;
- messages are kept in memory, oldest pruned beyond ``MP_MAX_MESSAGES`` (default 500, 0 keeps
  all);
- HTTP on port 8025 (``MP_UI_BIND_ADDR`` or ``--listen``) answers ``GET /livez``,
  ``GET /readyz`` and this subset of API v1: ``GET/PUT/DELETE /api/v1/messages``,
  ``GET /api/v1/message/{ID}`` (``latest`` works), ``.../headers``, ``.../raw`` and
  ``.../part/{PartID}``.

``mailpit readyz`` exits 0 if and only if the server's ``/readyz`` answers 200, as upstream's
image healthcheck expects. The web UI, search, tags beyond ``X-Tags`` and plus-addresses, SMTP
auth and TLS, relaying, POP3 and webhooks are not there.
"""

import argparse
import asyncio
import email.policy
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_SMTP: Final = "0.0.0.0:1025"
DEFAULT_HTTP: Final = "0.0.0.0:8025"
DEFAULT_MAX_MESSAGES: Final = 500
DEFAULT_LIMIT: Final = 50
SNIPPET_LIMIT: Final = 200
READYZ_TIMEOUT_S: Final = 5.0
# The alphabet of lithammer/shortuuid, which Mailpit uses for its 22-character IDs.
SHORTUUID_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
SHORTUUID_LENGTH: Final = 22
NOT_FOUND: Final = "404 page not found"

Json = dict[str, Any]
log = logging.getLogger("mailpit")


def short_uuid() -> str:
    """A random ID shaped like Mailpit's: a UUID's 128 bits in shortuuid's base 57."""
    number = secrets.randbits(128)
    digits = []
    for _ in range(SHORTUUID_LENGTH):
        number, digit = divmod(number, len(SHORTUUID_ALPHABET))
        digits.append(SHORTUUID_ALPHABET[digit])
    return "".join(digits)


def go_time(moment: datetime) -> str:
    """``moment`` as Go's encoding/json writes a time.Time: RFC 3339 with trimmed fractions."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    if fraction:
        text += "." + fraction
    offset = moment.utcoffset()
    if offset is None or not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def go_json(value: object) -> bytes:
    """JSON as Go's encoding/json writes it: compact, UTF-8, HTML characters escaped, newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (text + "\n").encode()


class _TextFromHtml(HTMLParser):
    """The text of an HTML document, roughly as a reader sees it."""

    _BLOCKS: Final = frozenset(
        {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
    )
    _HIDDEN: Final = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Enter a hidden element or start a new line at a block."""
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        """Leave a hidden element or end a block's line."""
        if tag in self._HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        """Keep visible text."""
        if not self._hidden_depth:
            self.chunks.append(data)


def html_to_text(document: str) -> str:
    """Plain text from HTML, for an HTML-only message's ``Text`` and for snippets."""
    parser = _TextFromHtml()
    parser.feed(document)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    return "\n".join(line for line in lines if line)


def snippet(text: str, html_body: str) -> str:
    """Up to 200 characters of the message, from the HTML if there is any (tools.CreateSnippet)."""
    source = html_to_text(html_body) if html_body.strip() else text
    flat = " ".join(source.replace("\ufeff", " ").split())
    return flat if len(flat) <= SNIPPET_LIMIT else flat[:SNIPPET_LIMIT] + "..."


def _address(name: str, address: str) -> Json:
    return {"Name": name, "Address": address}


def addresses(message: EmailMessage, header: str) -> list[Json]:
    """A header's addresses as Go's mail.Address list; empty if absent or unparseable."""
    try:
        value = message.get(header)
        found = getattr(value, "addresses", ()) if value is not None else ()
        return [_address(item.display_name, item.addr_spec) for item in found]
    except (MessageError, ValueError, IndexError, TypeError, AttributeError):
        return []


def sender(message: EmailMessage) -> Json:
    """The From address; the raw header as a name if it is no address (as Mailpit does)."""
    found = addresses(message, "From")
    if found:
        return found[0]
    raw = message.get("From")
    return _address(str(raw) if raw is not None else "", "")


def header_text(message: EmailMessage, name: str) -> str:
    """A header's decoded value, "" if absent."""
    try:
        value = message.get(name)
    except (MessageError, ValueError, IndexError, TypeError):
        return ""
    return str(value) if value is not None else ""


def parse(raw: bytes) -> EmailMessage:
    """A message parsed with the modern email API."""
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def _text_content(part: EmailMessage) -> str:
    try:
        return cast(str, part.get_content())
    except (LookupError, UnicodeError, KeyError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _leaf_parts(part: EmailMessage, path: str) -> Iterator[tuple[str, EmailMessage]]:
    """Every non-multipart part with its part ID as enmime numbers them ("1", "2.1", ...)."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for index, child in enumerate(part.iter_parts(), start=1):
            yield from _leaf_parts(
                cast(EmailMessage, child), f"{path}.{index}" if path else str(index)
            )
    else:
        yield path or "0", part


@dataclass
class Body:
    """What GET /api/v1/message/{ID} shows of a message's content."""

    text: str = ""
    html: str = ""
    inline: list[Json] = field(default_factory=list)
    attachments: list[Json] = field(default_factory=list)
    parts: dict[str, EmailMessage] = field(default_factory=dict)


def _part_bytes(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    return part.as_bytes() if part.get_content_maintype() == "message" else b""


def _attachment_summary(part_id: str, part: EmailMessage) -> Json:
    content = _part_bytes(part)
    content_id = (part.get("Content-ID") or "").strip().strip("<>")
    return {
        "PartID": part_id,
        "FileName": part.get_filename() or content_id,
        "ContentType": part.get_content_type(),
        "ContentID": content_id,
        "Size": len(content),
        "Checksums": {
            "MD5": hashlib.md5(content, usedforsecurity=False).hexdigest(),
            "SHA1": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
            "SHA256": hashlib.sha256(content).hexdigest(),
        },
    }


def body(message: EmailMessage) -> Body:
    """Text, HTML and attachments, sorted as enmime sorts them for Mailpit."""
    found = Body()
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    if text_part is not None:
        found.text = _text_content(cast(EmailMessage, text_part))
    if html_part is not None:
        found.html = _text_content(cast(EmailMessage, html_part))
        if not found.text:
            # enmime gives an HTML-only message a plain-text version of its HTML.
            found.text = html_to_text(found.html)
    for part_id, part in _leaf_parts(message, ""):
        if part is text_part or part is html_part:
            continue
        found.parts[part_id] = part
        disposition = part.get_content_disposition()
        named = bool(part.get_filename() or part.get("Content-ID"))
        if disposition == "attachment":
            found.attachments.append(_attachment_summary(part_id, part))
        elif named:
            found.inline.append(_attachment_summary(part_id, part))
    return found


def list_unsubscribe(message: EmailMessage) -> Json:
    """The List-Unsubscribe summary: the header, its mailto and http(s) links."""
    header = header_text(message, "List-Unsubscribe")
    summary: Json = {"Header": header, "Links": [], "Errors": "", "HeaderPost": ""}
    if header:
        links = re.findall(r"<([^>]+)>", header)
        summary["Links"] = [link for link in links if re.match(r"(?i)(mailto:|https?://)", link)]
        if not links:
            summary["Errors"] = "No valid unsubscribe links found"
        summary["HeaderPost"] = header_text(message, "List-Unsubscribe-Post")
    return summary


def tags_of(message: EmailMessage) -> list[str]:
    """Tags Mailpit sets by default: from X-Tags and from plus-addresses (user+tag@...)."""
    found = [tag.strip() for tag in header_text(message, "X-Tags").split(",")]
    for header in ("To", "Cc", "Bcc"):
        for item in addresses(message, header):
            local = str(item["Address"]).split("@", 1)[0]
            if "+" in local:
                found.append(local.split("+", 1)[1])
    cleaned = {re.sub(r"[^\w .\-]", "", tag).strip() for tag in found}
    return sorted((tag for tag in cleaned if tag), key=str.lower)


def headers(raw: bytes) -> dict[str, list[str]]:
    """The header block as Go's net/mail exposes it: canonical names, unfolded raw values."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode("utf-8", "replace")
    found: dict[str, list[str]] = {}
    for field_text in re.split(r"\r?\n(?![ \t])", head):
        name, colon, value = field_text.partition(":")
        if not colon or not name.strip():
            continue
        canonical = "-".join(word.capitalize() for word in name.strip().split("-"))
        unfolded = re.sub(r"\r?\n[ \t]+", " ", value).strip()
        found.setdefault(canonical, []).append(unfolded)
    return dict(sorted(found.items()))


def set_header(raw: bytes, name: str, value: str) -> bytes:
    """Replace the first ``name`` header (with its continuation lines), or prepend one."""
    line = f"{name}: {value}\r\n".encode()
    head_end = re.search(rb"\r?\n\r?\n", raw)
    head = raw[: head_end.start() + 1] if head_end else raw
    found = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[^\n]*\n(?:[ \t][^\n]*\n)*", head)
    if found is None:
        return line + raw
    return raw[: found.start()] + line + raw[found.end() :]


def accept(raw: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> bytes:
    """The message as Mailpit stores it, after smtpd.SaveToDatabase's changes."""
    raw = raw.replace(b"\r\r\n", b"\r\n")
    message = parse(raw)
    if header_text(message, "Return-Path").strip("<>") != mail_from:
        raw = set_header(raw, "Return-Path", f"<{mail_from}>")
    if not header_text(message, "Message-ID").strip("<>"):
        raw = f"Message-ID: <{short_uuid()}@mailpit>\r\n".encode() + raw
    known = {
        str(item["Address"]).lower()
        for name in ("To", "Cc", "Bcc")
        for item in addresses(message, name)
    }
    missing = [rcpt for rcpt in rcpt_tos if rcpt.lower() not in known]
    if missing:
        existing = header_text(message, "Bcc")
        raw = set_header(raw, "Bcc", ", ".join(missing) + (f", {existing}" if existing else ""))
    return raw


@dataclass
class Stored:
    """One kept message: its bytes, when it came, whether it was read, its summary."""

    id: str
    raw: bytes
    created: datetime
    summary: Json
    tags: list[str]
    read: bool = False

    def summary_json(self) -> Json:
        """The MessageSummary of the message list."""
        return {**self.summary, "Read": self.read, "Tags": list(self.tags)}


def summarize(message_id: str, raw: bytes, created: datetime) -> Stored:
    """Parse a message once, at arrival, into what the message list shows."""
    message = parse(raw)
    content = body(message)
    summary: Json = {
        "ID": message_id,
        "MessageID": header_text(message, "Message-ID").strip().strip("<>"),
        "Read": False,
        "From": sender(message),
        "To": addresses(message, "To"),
        "Cc": addresses(message, "Cc"),
        "Bcc": addresses(message, "Bcc"),
        "ReplyTo": addresses(message, "Reply-To"),
        "Subject": header_text(message, "Subject"),
        "Created": go_time(created),
        "Username": "",
        "Tags": [],
        "Size": len(raw),
        "Attachments": len(content.attachments),
        "Snippet": snippet(content.text, content.html),
    }
    return Stored(message_id, raw, created, summary, tags_of(message))


def message_json(stored: Stored) -> Json:
    """The Message of GET /api/v1/message/{ID}."""
    message = parse(stored.raw)
    content = body(message)
    return_path = header_text(message, "Return-Path").strip().strip("<>")
    from_address = sender(message)
    try:
        date = parsedate_to_datetime(header_text(message, "Date"))
    except (TypeError, ValueError, IndexError):
        date = stored.created
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return {
        "ID": stored.id,
        "MessageID": stored.summary["MessageID"],
        "From": from_address,
        "To": addresses(message, "To"),
        "Cc": addresses(message, "Cc"),
        "Bcc": addresses(message, "Bcc"),
        "ReplyTo": addresses(message, "Reply-To"),
        "ReturnPath": return_path or from_address["Address"],
        "Subject": header_text(message, "Subject"),
        "ListUnsubscribe": list_unsubscribe(message),
        "Date": go_time(date),
        "Tags": list(stored.tags),
        "Username": "",
        "Text": content.text,
        "HTML": content.html,
        "Size": len(stored.raw),
        "Inline": content.inline,
        "Attachments": content.attachments,
    }


class Mailbox:
    """The messages, oldest first, shared by the SMTP side and the HTTP threads."""

    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self._messages: list[Stored] = []
        self._lock = threading.Lock()

    def add(self, raw: bytes) -> Stored:
        """Keep a message, pruning the oldest beyond the limit."""
        created = datetime.now().astimezone()
        created = created.replace(microsecond=created.microsecond // 1000 * 1000)
        stored = summarize(short_uuid(), raw, created)
        with self._lock:
            self._messages.append(stored)
            if self.max_messages > 0 and len(self._messages) > self.max_messages:
                pruned = len(self._messages) - self.max_messages
                del self._messages[:pruned]
                log.info("[db] deleted %d messages (max %d)", pruned, self.max_messages)
        return stored

    def page(self, start: int, limit: int) -> tuple[list[Json], int, int, list[str]]:
        """Newest first from ``start``: summaries, total, unread and every tag in use."""
        with self._lock:
            newest = list(reversed(self._messages))
            unread = sum(not stored.read for stored in newest)
            tags = sorted({tag for stored in newest for tag in stored.tags}, key=str.lower)
            chosen = newest[start : start + limit] if limit > 0 else newest[start:]
            return [stored.summary_json() for stored in chosen], len(newest), unread, tags

    def get(self, message_id: str) -> Stored | None:
        """One message by ID, or by ``latest``."""
        with self._lock:
            if message_id == "latest":
                return self._messages[-1] if self._messages else None
            return next((m for m in self._messages if m.id == message_id), None)

    def mark(self, ids: Sequence[str], *, read: bool) -> None:
        """Set the read status of some messages, or of all when ``ids`` is empty."""
        with self._lock:
            for stored in self._messages:
                if not ids or stored.id in ids:
                    stored.read = read

    def delete(self, ids: Sequence[str]) -> None:
        """Delete some messages, or all when ``ids`` is empty."""
        with self._lock:
            if ids:
                self._messages = [m for m in self._messages if m.id not in ids]
            else:
                self._messages.clear()


class SmtpHandler:
    """The aiosmtpd handler: every message is accepted and kept."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message and log one line about it."""
        mail_from = envelope.mail_from or ""
        raw = accept(envelope.original_content or b"", mail_from, envelope.rcpt_tos)
        stored = self.mailbox.add(raw)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        log.info(
            "[smtpd] received (%s) from:%s to:%s subject:%s id:%s size:%d",
            peer,
            mail_from,
            ",".join(envelope.rcpt_tos),
            json.dumps(stored.summary["Subject"], ensure_ascii=False),
            stored.id,
            len(raw),
        )
        return f"250 2.0.0 Ok: queued as {stored.id}"


class ApiServer(ThreadingHTTPServer):
    """The HTTP server, holding the mailbox and whether the SMTP side is up."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], mailbox: Mailbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, ApiHandler)
        self.mailbox = mailbox
        self.ready = threading.Event()


_MESSAGE_PATH: Final = re.compile(r"^/api/v1/message/([^/]+)(?:/(headers|raw|part/([^/]+)))?$")


class ApiHandler(BaseHTTPRequestHandler):
    """Routes and answers as Mailpit does (its errors are text/plain)."""

    server_version = "Mailpit"
    protocol_version = "HTTP/1.1"

    @property
    def _api(self) -> ApiServer:
        return cast(ApiServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged (Mailpit logs them only with --verbose)."""

    def _send(self, status: int, content: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _json(self, value: object) -> None:
        self._send(HTTPStatus.OK, go_json(value), "application/json")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _body_json(self) -> Json:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return {}
        try:
            data = json.loads(self.rfile.read(length))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def do_GET(self) -> None:
        """Health probes, the message list and one message's views."""
        url = urlsplit(self.path)
        if url.path == "/livez":
            self._send(HTTPStatus.OK, b"", "text/plain")
        elif url.path == "/readyz":
            if self._api.ready.is_set():
                self._send(HTTPStatus.OK, b"", "text/plain")
            else:
                self._text(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        elif url.path == "/api/v1/messages":
            self._list(parse_qs(url.query))
        elif found := _MESSAGE_PATH.match(url.path):
            self._message(found.group(1), found.group(2) or "", found.group(3) or "")
        else:
            self._text(HTTPStatus.NOT_FOUND, NOT_FOUND)

    do_HEAD = do_GET  # noqa: N815 - http.server's hook name

    def do_DELETE(self) -> None:
        """Delete the messages whose IDs are given, or all."""
        if urlsplit(self.path).path != "/api/v1/messages":
            self._text(HTTPStatus.NOT_FOUND, NOT_FOUND)
            return
        ids = self._body_json().get("IDs") or []
        self._api.mailbox.delete([str(item) for item in ids])
        self._text(HTTPStatus.OK, "ok")

    def do_PUT(self) -> None:
        """Set the read status of the messages whose IDs are given, or of all."""
        if urlsplit(self.path).path != "/api/v1/messages":
            self._text(HTTPStatus.NOT_FOUND, NOT_FOUND)
            return
        data = self._body_json()
        if data.get("Search"):
            self._text(HTTPStatus.BAD_REQUEST, "search is not supported by this stand-in")
            return
        ids = [str(item) for item in data.get("IDs") or []]
        self._api.mailbox.mark(ids, read=bool(data.get("Read")))
        self._text(HTTPStatus.OK, "ok")

    def _list(self, query: dict[str, list[str]]) -> None:
        start = _int_param(query, "start", 0)
        limit = _int_param(query, "limit", DEFAULT_LIMIT)
        messages, total, unread, tags = self._api.mailbox.page(start, limit)
        self._json(
            {
                "total": total,
                "unread": unread,
                "count": len(messages),
                "messages_count": total,
                "messages_unread": unread,
                "start": start,
                "tags": tags,
                "messages": messages,
            }
        )

    def _message(self, message_id: str, view: str, part_id: str) -> None:
        stored = self._api.mailbox.get(message_id)
        if stored is None:
            if message_id == "latest":
                self._text(HTTPStatus.NOT_FOUND, "Message not found")
            else:
                self._text(HTTPStatus.NOT_FOUND, NOT_FOUND)
        elif view == "":
            self._json(message_json(stored))
            self._api.mailbox.mark([stored.id], read=True)
        elif view == "headers":
            self._json(headers(stored.raw))
        elif view == "raw":
            self._send(HTTPStatus.OK, stored.raw, "text/plain; charset=utf-8")
        else:
            part = body(parse(stored.raw)).parts.get(part_id)
            if part is None:
                self._text(HTTPStatus.NOT_FOUND, NOT_FOUND)
            else:
                self._send(HTTPStatus.OK, _part_bytes(part), part.get_content_type())


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    """A non-negative integer query parameter; anything else means the default (as Mailpit)."""
    values = query.get(name) or [""]
    return int(values[0]) if values[0].isdigit() else default


def split_address(text: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` as a (host, port) pair ("" is every interface)."""
    found = re.fullmatch(r"\[?([^\]]*?)\]?(?::(\d+))?", text.strip())
    if found is None:
        raise ValueError(f"not an address: {text!r}")
    host, port = found.group(1), found.group(2)
    if host.isdigit() and port is None:
        host, port = "", host
    return host, int(port) if port else default_port


async def serve(smtp_address: str, http_address: str, max_messages: int) -> None:
    """Run SMTP on this event loop and HTTP in a thread until SIGTERM or SIGINT."""
    mailbox = Mailbox(max_messages)
    http_host, http_port = split_address(http_address, 8025)
    api = ApiServer((http_host or "0.0.0.0", http_port), mailbox)  # noqa: S104 - see DEFAULT_HTTP
    threading.Thread(target=api.serve_forever, name="http", daemon=True).start()
    shown = "localhost" if http_host in {"", "0.0.0.0", "::"} else http_host  # noqa: S104 - a comparison
    log.info("[http] accessible via http://%s:%d/", shown, http_port)

    loop = asyncio.get_running_loop()
    smtp_host, smtp_port = split_address(smtp_address, 1025)
    handler = SmtpHandler(mailbox)
    smtp = await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, ident="Mailpit ESMTP Service ready"),
        host=smtp_host or None,
        port=smtp_port,
    )
    log.info("[smtpd] starting on %s (no encryption)", smtp_address)
    limit = f"{max_messages}" if max_messages > 0 else "unlimited"
    log.info("[db] in memory, keeping at most %s messages", limit)
    api.ready.set()

    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()
    log.info("shutting down")
    api.ready.clear()
    smtp.close()
    await smtp.wait_closed()
    api.shutdown()
    api.server_close()


def readyz(http_address: str) -> int:
    """0 if the server at ``http_address`` answers /readyz with 200, else 1 (with a reason)."""
    host, port = split_address(http_address, 8025)
    if host in {"", "0.0.0.0"}:  # noqa: S104 - the wildcard bind is reached on loopback
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=READYZ_TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if status != HTTPStatus.OK:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


def _max_messages(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="mailpit",
        description="Stand-in for Mailpit: SMTP sink with Mailpit's API v1 (a subset).",
    )
    parser.add_argument(
        "command", nargs="?", choices=["readyz"], help="readyz: exit 0 if the server is ready"
    )
    parser.add_argument(
        "-s",
        "--smtp",
        default=env.get("MP_SMTP_BIND_ADDR") or DEFAULT_SMTP,
        help="SMTP bind address (MP_SMTP_BIND_ADDR, default %(default)s)",
    )
    parser.add_argument(
        "-l",
        "--listen",
        default=env.get("MP_UI_BIND_ADDR") or DEFAULT_HTTP,
        help="HTTP bind address (MP_UI_BIND_ADDR, default %(default)s)",
    )
    parser.add_argument(
        "-m",
        "--max",
        type=_max_messages,
        default=_max_messages(env.get("MP_MAX_MESSAGES") or str(DEFAULT_MAX_MESSAGES)),
        help="messages kept, oldest pruned; 0 keeps all (MP_MAX_MESSAGES, default 500)",
    )
    return parser


class _MailpitFormatter(logging.Formatter):
    """Log lines shaped like Mailpit's: ``INFO[2024/05/01 10:20:30] [smtpd] ...``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(record.created))
        return f"{record.levelname[:4]}[{stamp}] {record.getMessage()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server, or the readyz check."""
    args = _parser().parse_args(argv)
    if args.command == "readyz":
        return readyz(args.listen)
    output = logging.StreamHandler(sys.stdout)
    output.setFormatter(_MailpitFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[output])
    # aiosmtpd logs every SMTP command at INFO; one line per message is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.smtp, args.listen, args.max))
    return 0


if __name__ == "__main__":
    sys.exit(main())
