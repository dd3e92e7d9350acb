"""Where a hop spends its time: py-spy samples its processes while the hop is measured.

py-spy reads a running Python process from outside (no code in the service, no restart),
so the profile is of the service exactly as it runs. It needs ptrace rights over the
process: root, or ``CAP_SYS_PTRACE`` in a container. Each profile is kept raw (py-spy's
collapsed stacks, which flamegraph tools read) and summed up as the functions with the
largest share of the samples, their callees included.
"""

import asyncio
import collections
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from northbridge_stack.errors import StackError

RATE_HZ = 250
TOP = 30
# A frame in py-spy's raw output: "function (path/to/file.py:line)".
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*?)(?::\d+)?\)$")


def py_spy() -> str:
    """The py-spy installed with the project's development dependencies."""
    path = shutil.which("py-spy")
    if path is None:
        raise StackError("py-spy not found: uv sync installs it with the dev dependencies")
    return path


async def record(processes: Mapping[str, int], seconds: float, folder: Path) -> dict[str, Path]:
    """Sample each named process for ``seconds``; the raw profile of each."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one directory, once
    outputs = {name: folder / f"{name}.txt" for name in processes}
    running = [
        await asyncio.create_subprocess_exec(
            py_spy(),
            "record",
            f"--pid={pid}",
            f"--duration={max(1, round(seconds))}",
            f"--rate={RATE_HZ}",
            "--format=raw",
            f"--output={outputs[name]}",
            "--nonblocking",  # never pause the service being measured
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for name, pid in processes.items()
    ]
    for process in running:
        _, errors = await process.communicate()
        if process.returncode != 0:
            raise StackError(f"py-spy failed: {errors.decode(errors='replace')}")
    return outputs


def top_functions(raw: Path, top: int = TOP) -> list[str]:
    """The functions in the most samples (their callees included), as percentages."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        for frame in {_name(f) for f in stack.split(";")}:
            inclusive[frame] += samples
    if not total:
        return ["no samples"]
    return [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({Path(match['file']).name})"
