"""Kafka, Redis and Mailpit that take only TLS and credentials, with certificates made here.

trustme makes a CA of the test's own and one server certificate for 127.0.0.1; each server
gets it in the form it reads (Kafka's PEM keystore wants the key in PKCS#8).
"""

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

from northbridge_stack.kafka import KafkaBroker, SaslSsl
from northbridge_stack.mailpit import Mailpit
from northbridge_stack.ports import LOOPBACK, free_port
from northbridge_stack.redis_server import RedisServer

USER = "northbridge"


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what clients trust
    chain: Path  # the server's certificate chain
    key: Path  # its private key, PKCS#8
    keystore: Path  # key and chain in one file (Kafka)


def certificates(home: Path) -> Certificates:
    """A CA and a certificate for 127.0.0.1 and localhost, written into ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = Certificates(home / "ca.pem", home / "chain.pem", home / "key.pem", home / "ks.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    for pem in server.cert_chain_pems:
        pem.write_to_path(str(files.chain), append=True)
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    files.key.write_bytes(pkcs8)
    files.keystore.write_bytes(pkcs8 + files.chain.read_bytes())
    return files


def secret_file(home: Path, name: str, secret: str) -> Path:
    """A secret as compose and Kubernetes hand it over: a file, with a trailing newline."""
    path = home / name
    path.write_text(secret + "\n")
    return path


def kafka(home: Path, certs: Certificates, password: str) -> tuple[KafkaBroker, int]:
    """A broker with a SASL_SSL listener (SCRAM-SHA-512, user USER); and that listener's port."""
    port = free_port()
    secure = SaslSsl(port, certs.keystore, {USER: password})
    return KafkaBroker(home, free_port(), free_port(), sasl_ssl=secure), port


def redis(home: Path, certs: Certificates, password: str) -> tuple[RedisServer, str]:
    """redis-server on a TLS port only, with ``requirepass``; the URL without the password."""
    port = free_port()
    tls = (
        f"port 0\ntls-port {port}\ntls-cert-file {certs.chain}\ntls-key-file {certs.key}\n"
        f"tls-ca-cert-file {certs.ca}\ntls-auth-clients no\nrequirepass {password}\n"
    )
    url = f"rediss://{LOOPBACK}:{port}/0?ssl_ca_certs={certs.ca}"
    with_password = url.replace("rediss://", f"rediss://:{password}@")
    return RedisServer(home, port, more_config=tls, url=with_password), url


def mailpit(home: Path, certs: Certificates, password: str) -> Mailpit:
    """Mailpit demanding STARTTLS and a login (user USER)."""
    home.mkdir(parents=True, exist_ok=True)
    # Mailpit reads an htpasswd file; {SHA} is one of the hashes it takes.
    sha = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
    users = home / "smtp-users"
    users.write_text(f"{USER}:{{SHA}}{sha}\n")
    options = (
        f"--smtp-tls-cert={certs.chain}",
        f"--smtp-tls-key={certs.key}",
        "--smtp-require-starttls",
        f"--smtp-auth-file={users}",
    )
    return Mailpit(home, free_port(), free_port(), options=options)
