"""Kafka's broker and tools as Maven Central jars, resolved by Maven into its own cache.

The jars stay in ~/.m2, where Maven keeps them across projects; the repository never holds
a copy. What is kept is the classpath Maven computed, in a user cache file keyed by the
POM's content, so a change of version resolves again and a warm start costs no Maven run.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

from northbridge_stack.errors import StackError

# Pinned: Maven 3.8 would otherwise pick a dependency plugin from 2012.
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
MAVEN_TIMEOUT_S: Final = 600.0


def kafka_classpath() -> str:
    """The broker's and tools' classpath, asking Maven only when the cache is stale."""
    cache = classpath_cache()
    entries = _read_classpath(cache)
    if entries is None:
        _resolve(cache)
        entries = _read_classpath(cache)
    if entries is None:
        raise StackError(f"Maven wrote no usable classpath to {cache}")
    return os.pathsep.join(entries)


def kafka_jars_cached() -> bool:
    """Whether every jar of the cached classpath is on disk (so no Maven run is needed)."""
    return _read_classpath(classpath_cache()) is not None


def classpath_cache() -> Path:
    """The user cache file holding the classpath for the current POM."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(_pom_text().encode()).hexdigest()[:12]
    return base / "northbridge-stack" / f"kafka-{kafka_version()}-{digest}.classpath"


def kafka_version() -> str:
    """The Kafka version the POM asks for (the POM is the one place it is written)."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", _pom_text())
    if found is None:
        raise StackError("kafka-pom.xml has no <kafka.version> property")
    return found.group(1)


def _read_classpath(cache: Path) -> list[str] | None:
    try:
        entries = cache.read_text().strip().split(os.pathsep)
    except FileNotFoundError:
        return None
    # A cleaned ~/.m2 leaves the cache pointing at nothing: resolve again.
    if not entries or not all(Path(entry).is_file() for entry in entries):
        return None
    return entries


def _resolve(cache: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="northbridge-kafka-pom-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom_text())
        # Written beside, then renamed: a concurrent reader sees the old file or the new one.
        partial = cache.with_suffix(f".{os.getpid()}.partial")
        argv = [mvn, "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:build-classpath"]
        argv += [f"-Dmdep.outputFile={partial}", "-Dmdep.includeScope=runtime"]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise StackError(
                f"Maven did not resolve Kafka's jars in {MAVEN_TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-30:]
            raise StackError("Maven failed to resolve Kafka's jars:\n" + "\n".join(output))
        partial.replace(cache)


def _pom_text() -> str:
    return resources.files("northbridge_stack").joinpath("kafka-pom.xml").read_text()
