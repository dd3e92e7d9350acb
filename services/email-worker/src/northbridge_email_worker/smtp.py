"""Hand a mail to the SMTP server, with STARTTLS and login when configured."""

import contextlib
import smtplib
import ssl
from email.message import EmailMessage

from northbridge_shared.settings import SmtpSettings


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Deliver ``message``; raises ``smtplib.SMTPException`` or ``OSError`` if it was not.

    Once the server accepted the message (``send_message`` returned), nothing raises: a
    failing QUIT would otherwise make the job release its lease and a retry mail twice.
    """
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(message)
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()
