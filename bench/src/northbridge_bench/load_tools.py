"""The load generators: wrk for saturation, vegeta for a constant rate.

Neither is Python: a Python client capped the gateway at a few hundred requests a second.
wrk (C, one event loop per thread) costs the least CPU per request of the tools tried here,
which matters when it shares two cores with what it measures: vegeta at full speed left the
same gateway 2.5k req/s where wrk left it 3.7k. But wrk only runs closed loops (a request
waits for the last answer), so the end-to-end run, which must offer a steady rate whatever
the latency, uses vegeta. ``make bench`` installs both (Debian's wrk, vegeta from the Go
module proxy) and names them in ``BENCH_WRK`` and ``BENCH_VEGETA``.
"""

import asyncio
import json
import os
import resource
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from northbridge_stack.errors import StackError

# vegeta's steady load posts this one body (one key: one partition), read by the one bridge
# of the end-to-end run; wrk's saturation varies it (below).
EVENT = b'{"name": "bench", "loc": "lab"}'
# Latency percentiles wrk reports for the CDF: every percent, then the tail, then the maximum
# (wrk's percentile(100) is not its maximum: it answered a value below the median here).
PERCENTILES = (*range(1, 100), 99.5, 99.9, 99.99)

# Each request names one of ``keys`` senders in turn: an event's Kafka key is its name
# (without a recipient), so one fixed body put every event on one partition, and a backlog
# no second bridge could share. Each wrk thread counts on its own: keys need spread only.
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
sent = 0
request = function()
  sent = sent + 1
  local name = "bench-" .. (sent %% %(keys)d)
  return wrk.format(nil, nil, nil, '{"name": "' .. name .. '", "loc": "lab"}')
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d,'
    .. ' "refused": %%d, "max_us": %%d, "percentiles": [', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency.max))
  for i, p in ipairs({%(percentiles)s}) do
    io.write(string.format('%%s[%%g, %%d]', i > 1 and ', ' or '', p, latency:percentile(p)))
  end
  io.write(']}\\n')
end
"""


@dataclass(frozen=True)
class Saturation:
    """One wrk run: requests answered 2xx/3xx, failures, and latency percentiles (ms)."""

    requests: int
    seconds: float
    errors: int  # connection errors and timeouts
    refused: int  # answers of 4xx/5xx
    percentiles: list[tuple[float, float]]
    cpu_s: float  # wrk's own

    @property
    def rate(self) -> float:
        """Accepted requests per second."""
        return (self.requests - self.refused) / self.seconds


@dataclass(frozen=True)
class SteadyLoad:
    """One vegeta run: what was offered and how it was answered."""

    requests: int
    rate: float
    status_codes: dict[str, int]
    latency_ms: dict[str, float]  # p50, p99, max
    cpu_s: float  # vegeta's own


def tool(name: str, variable: str) -> str:
    """The path of a load tool: ``$variable``, else on PATH; a clear error if neither."""
    path = os.environ.get(variable) or shutil.which(name)
    if not path or not Path(path).exists():
        raise StackError(
            f"{name} not found (set {variable} or run `make bench`, which installs it)"
        )
    return path


async def saturate(
    url: str, seconds: float, connections: int, keys: int, threads: int = 2
) -> Saturation:
    """POST events to ``url`` as fast as ``connections`` keep-alive connections allow."""
    script = _WRK_SCRIPT % {
        "keys": keys,
        "percentiles": ", ".join(f"{p:g}" for p in PERCENTILES),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        argv = [tool("wrk", "BENCH_WRK"), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
        output, cpu_s = await _run([*argv, "-s", file.name, url])
    finally:
        Path(file.name).unlink()  # noqa: ASYNC240 - a small file, and nothing waits on this loop
    line = next((x for x in output.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise StackError(f"wrk printed no result:\n{output}")
    result = json.loads(line.removeprefix("RESULT "))
    return Saturation(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        errors=result["errors"],
        refused=result["refused"],
        percentiles=[
            *((float(p), us / 1000) for p, us in result["percentiles"]),
            (100.0, result["max_us"] / 1000),
        ],
        cpu_s=cpu_s,
    )


async def steady(url: str, rate: int, seconds: float) -> SteadyLoad:
    """POST ``rate`` events a second to ``url`` for ``seconds``, whatever the latency."""
    vegeta = tool("vegeta", "BENCH_VEGETA")
    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "event.json"
        body.write_bytes(EVENT)
        targets = Path(folder) / "targets"
        targets.write_text(f"POST {url}\nContent-Type: application/json\n@{body}\n")
        results = Path(folder) / "results.bin"
        attack = [vegeta, "attack", f"-targets={targets}", f"-rate={rate}/s"]
        _, cpu_s = await _run([*attack, f"-duration={seconds:g}s", f"-output={results}"])
        report = json.loads((await _run([vegeta, "report", "-type=json", str(results)]))[0])
    latencies = report["latencies"]
    return SteadyLoad(
        requests=report["requests"],
        rate=report["rate"],
        status_codes=report["status_codes"],
        latency_ms={
            "p50": latencies["50th"] / 1e6,
            "p99": latencies["99th"] / 1e6,
            "max": latencies["max"] / 1e6,
        },
        cpu_s=cpu_s,
    )


async def _run(argv: list[str]) -> tuple[str, float]:
    """The output of ``argv``, and the CPU seconds it used (the load has a cost too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise StackError(f"{Path(argv[0]).name} failed ({process.returncode}):\n{text}")
    return text, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
