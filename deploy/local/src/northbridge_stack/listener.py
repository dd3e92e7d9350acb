"""supervisord event listener: restart forever, and count the restarts for ``make ps``.

supervisord restarts a program that exits (``autorestart``), but gives up on one that keeps
failing within ``startsecs`` (state FATAL) and keeps no restart count. This listener, run by
supervisord (``python -m northbridge_stack.listener COUNTS``), starts a FATAL program again,
so a crash loop goes on with supervisord's growing backoff as compose's ``unless-stopped``
would, and writes how often each program restarted to the JSON file COUNTS. A program
stopped on purpose (STOPPED) is left alone, as are starts by hand.

The protocol (supervisor's docs, "Event Listeners") is supervisor's own ``childutils.listener``;
stdout is its channel, so messages go to stderr.
"""

import json
import os
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor import childutils

# A start after these states is supervisord bringing a program back, not a person.
RESPAWNED_FROM = frozenset({"EXITED", "BACKOFF"})


def main() -> None:
    """Serve supervisord's events until it stops this process (or closes stdin)."""
    counts = Path(sys.argv[1])
    rpc = childutils.getRPCInterface(os.environ)
    revived: set[str] = set()
    while True:
        try:
            header, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        except KeyError:  # no header line: supervisord closed our stdin, it is gone
            return
        handle(header["eventname"], childutils.get_headers(payload), counts, rpc, revived)
        childutils.listener.ok(sys.stdout)


def handle(event: str, payload: dict[str, str], counts: Path, rpc: Any, revived: set[str]) -> None:
    """One PROCESS_STATE event."""
    name = payload.get("processname", "")
    if event == "PROCESS_STATE_FATAL":
        try:
            rpc.supervisor.startProcess(name, False)  # no wait: events must keep flowing
        except (xmlrpc.client.Error, OSError) as error:
            print(f"could not start {name} again: {error}", file=sys.stderr, flush=True)
        else:
            revived.add(name)
    elif event == "PROCESS_STATE_STARTING":
        came_from = payload.get("from_state", "")
        if came_from in RESPAWNED_FROM or (came_from == "FATAL" and name in revived):
            revived.discard(name)
            count(counts, name)


def count(counts: Path, name: str) -> None:
    """Add one restart of ``name`` to the JSON file (written whole, then renamed)."""
    try:
        known: dict[str, int] = json.loads(counts.read_text())
    except (OSError, ValueError):
        known = {}
    known[name] = known.get(name, 0) + 1
    partial = counts.with_suffix(".partial")
    partial.write_text(json.dumps(known, sort_keys=True))
    partial.replace(counts)


if __name__ == "__main__":
    main()
