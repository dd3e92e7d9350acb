"""Mailpit, the one mail sink: built from the Go module proxy, cached per machine, run here.

The same Mailpit as compose's ``axllent/mailpit`` image (the version below), with its web UI:
built as upstream's Dockerfile builds it (the front end with npm, then ``go build``) from the
module's source, which the Go module proxy serves. The binary is kept in the user's cache,
as Maven keeps Kafka's jars, so only the first ``make install`` on a machine pays the build.
deploy/offline/bootstrap packages this binary as compose's stand-in image.

Mail is read back one way, through Mailpit's API: see :mod:`northbridge_stack.mailbox`.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from northbridge_stack.errors import StackError
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.processes import Server

MODULE: Final = "github.com/axllent/mailpit"
# The minor version compose.yaml pins; its front end builds from the npm registry (v1.33's
# pins a package version the registry here does not serve).
VERSION: Final = "v1.27.11"
BUILD_TIMEOUT_S: Final = 900.0
# As compose.yaml's MAILPIT_MAX_MESSAGES: Mailpit deletes the oldest mail beyond this.
DEFAULT_MAX_MESSAGES: Final = 5000


def binary() -> Path:
    """Where this machine keeps the built Mailpit (``~/.cache/northbridge/bin``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "northbridge" / "bin" / f"mailpit-{VERSION}"


def cached() -> bool:
    """Whether the binary is built (so no Go or npm run is needed)."""
    return binary().is_file()


def build() -> Path:
    """Build Mailpit with its web UI unless cached; the binary's path."""
    target = binary()
    if target.is_file():
        return target
    go, npm = _tool("go", "golang"), _tool("npm", "npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="northbridge-mailpit-") as work:
        downloaded = json.loads(_run([go, "mod", "download", "-json", f"{MODULE}@{VERSION}"]))
        source = Path(work) / "src"
        # The module cache is read-only; the front end's build writes into the tree.
        shutil.copytree(downloaded["Dir"], source)
        for folder, _, files in os.walk(source):
            for name in (".", *files):
                path = Path(folder) / name
                path.chmod(path.stat().st_mode | 0o200)
        _run([npm, "ci", "--no-audit", "--no-fund"], cwd=source)
        _run([npm, "run", "package"], cwd=source)  # writes server/ui/dist, embedded below
        partial = target.with_suffix(f".{os.getpid()}.partial")
        version = f"-X {MODULE}/config.Version={VERSION}"
        _run(
            [go, "build", "-trimpath", "-ldflags", f"-s -w {version}", "-o", str(partial), "."],
            cwd=source,
            env={"CGO_ENABLED": "0"},  # static: it runs in any image, as upstream's does
        )
        partial.replace(target)
    return target


class Mailpit(Server):
    """One Mailpit on 127.0.0.1: SMTP on ``smtp_port``, web UI and API on ``http_port``."""

    ready_what = "answering readyz"

    def __init__(
        self,
        home: Path,
        smtp_port: int = 1025,
        http_port: int = 8025,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        options: tuple[str, ...] = (),
    ) -> None:
        """Describe the server; nothing runs or is written until :meth:`start`.

        ``options`` go to Mailpit as they are, e.g. ``--smtp-tls-cert`` for STARTTLS.
        """
        super().__init__("mailpit", home / "mailpit.log")
        self.home = home
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.max_messages = max_messages
        self.options = options

    @property
    def url(self) -> str:
        """Its web UI and API: ``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.http_port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        """Its command: mail kept in a database in ``home``, so a restart keeps it."""
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [str(build()), "--smtp", f"{LOOPBACK}:{self.smtp_port}"]
        argv += ["--listen", f"{LOOPBACK}:{self.http_port}", "--max", str(self.max_messages)]
        argv += ["--database", str(self.home / "mailpit.db")]
        # No reverse DNS of 127.0.0.1 per connection, and no call to GitHub for new versions.
        argv += ["--smtp-disable-rdns", "--disable-version-check", *self.options]
        return argv, {}

    def serving(self) -> bool:
        """Mailpit's own health command (as compose's healthcheck runs it) exits 0."""
        argv = [str(binary()), "readyz", "--listen", f"{LOOPBACK}:{self.http_port}"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(
            f"{name} is needed to build Mailpit {VERSION} once per machine:"
            f" apt-get install {package}"
        )
    return found


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=None if env is None else os.environ | env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"building Mailpit: {argv[0]} ran over {BUILD_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise StackError(f"building Mailpit {VERSION} failed at {' '.join(argv)}:\n{output}")
    return done.stdout
