"""The shape every ``python -m northbridge_<service>.health`` command shares."""

import os
import sys
from collections.abc import Callable

from pydantic_settings import BaseSettings

from northbridge_shared.settings import load


def process_running(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (in this pid namespace)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def run_check(problem: Callable[..., str | None], *models: type[BaseSettings]) -> None:
    """Load ``models``, ask ``problem`` with them: return if it finds none, else print it, exit 1.

    A bad setting exits 1 as well (``load`` would exit 2, which Docker's health checks
    reserve); ``load`` has already printed which setting and why.
    """
    try:
        settings = [load(model) for model in models]
    except SystemExit:
        raise SystemExit(1) from None
    reason = problem(*settings)
    if reason is not None:
        print(reason, file=sys.stderr)
        raise SystemExit(1)
