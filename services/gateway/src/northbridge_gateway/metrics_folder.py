"""The folder gunicorn's worker processes keep their metric files in (see metrics.py).

This module must not import prometheus_client: it names the folder before anything does.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

SHARED_MEMORY: Final = Path("/dev/shm")  # noqa: S108 - files many processes write, off the disk
METRICS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"


def name_metrics_folder() -> None:
    """A fresh folder for the worker processes' metric files, removed when the gateway ends.

    A folder given in ``PROMETHEUS_MULTIPROC_DIR`` is used as is; it must be emptied between
    runs, as prometheus_client asks, or old counts come back.
    """
    if os.environ.get(METRICS_DIR):
        return
    base = SHARED_MEMORY if SHARED_MEMORY.is_dir() else None
    folder = tempfile.mkdtemp(prefix="northbridge-gateway-metrics-", dir=base)
    os.environ[METRICS_DIR] = folder
    master = os.getpid()

    def remove() -> None:
        # Forked workers inherit this hook and run it when they exit: only the master may.
        if os.getpid() == master:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
