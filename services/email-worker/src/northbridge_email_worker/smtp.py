"""Hand a mail to the SMTP server, with STARTTLS and login when configured."""

import smtplib
import ssl
from email.message import EmailMessage

from northbridge_shared.settings import SmtpSettings


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Deliver ``message``; raises ``smtplib.SMTPException`` or ``OSError`` on failure."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(message)
