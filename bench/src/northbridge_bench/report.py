"""The benchmark's results: a table on the terminal, and a report with plots in a folder.

The folder holds ``index.html`` (the tables and the plots), the plots as PNG, and
``results.json`` with every number, for comparing runs.
"""

import html
import itertools
import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

# Figure, not pyplot: no global state and no display backend, only files.
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from northbridge_bench.hops import EndToEnd, Round
from northbridge_bench.probes import Sample

UNITS = {"gateway": "req/s", "bridge": "events/s", "workers": "mails/s"}
MB = 1024 * 1024


def median_round(rounds: Sequence[Round]) -> Round:
    """The round whose rate is the median (the lower middle of an even count)."""
    ordered = sorted(rounds, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]


def alone(rounds: Sequence[Round], hop: str) -> list[Round]:
    """The rounds of ``hop`` with the fewest of its processes (one bridge, not the scaling)."""
    mine = [r for r in rounds if r.hop == hop]
    fewest = min((r.processes for r in mine), default=1)
    return [r for r in mine if r.processes == fewest]


def table(rounds: Sequence[Round], e2e: EndToEnd | None, heading: str) -> list[str]:
    """The summary: per hop min/median/max, its latency and CPU per event; the end to end."""
    lines = [heading, ""]
    lines.append(f"{'hop':<9} {'unit':<9} {'rounds':>6} {'min':>8} {'median':>8} {'max':>8}  ")
    hops = [h for h in UNITS if any(r.hop == h for r in rounds)]
    for hop in hops:
        mine = alone(rounds, hop)
        rates = [r.rate for r in mine]
        lines.append(
            f"{hop:<9} {UNITS[hop]:<9} {len(mine):>6} {min(rates):>8,.0f}"
            f" {statistics.median(rates):>8,.0f} {max(rates):>8,.0f}"
        )
    lines += ["", "median round of each hop: latency, CPU per event (ms) by part, memory (MB)"]
    for hop in hops:
        middle = median_round(alone(rounds, hop))
        if middle.percentiles:
            p50, p99 = _percentile(middle, 50), _percentile(middle, 99)
            load = f", wrk itself {middle.load_cpu_s / middle.count * 1000:.3f} ms/request"
            lines.append(f"  {hop}: latency p50 {p50:.1f} ms, p99 {p99:.1f} ms{load}")
        lines.append(f"  {hop}: CPU {_per_event(middle.cpu_s, middle.count)}")
        lines.append(f"  {hop}: Redis commands per event {_calls(middle)}")
        lines += [f"  {hop}: {note}" for note in middle.notes]
    lines += scaling_lines([r for r in rounds if r.hop == "bridge"])
    if e2e is not None:
        lines += ["", *end_to_end_lines(e2e)]
    lines += ["", f"memory after the run (RSS): {memory(rounds, e2e)}"]
    return lines


def scaling_lines(rounds: Sequence[Round]) -> list[str]:
    """Each count of bridges on the same backlog: rate, shares, CPU per event, cores busy."""
    counts = sorted({r.processes for r in rounds})
    if len(counts) < 2:
        return []
    medians = {n: median_round([r for r in rounds if r.processes == n]) for n in counts}
    base = medians[counts[0]]
    lines = [
        "",
        f"bridge scaling: 1 to {counts[-1]} bridges of one group, each count in every round;"
        " the median round of each count",
        *(f"  {note}" for note in base.notes[:1]),
        f"  {'bridges':>7} {'events/s':>8} {'min-max':>13} {'each':>6} {'speed-up':>8}"
        f"  {'shares %':<12} {'CPU ms/event:':<13} {'bridges':>7} {'redis':>6} {'kafka':>6}"
        f" {'all':>6}  {'cores:':<6} {'bridges':>7} {'redis':>5} {'kafka':>5}"
        f" {'machine':>9} {'load':>5}",
    ]
    for count, middle in medians.items():
        rates = [r.rate for r in rounds if r.processes == count]
        lines.append(
            f"  {count:>7} {middle.rate:>8,.0f} {f'{min(rates):,.0f}-{max(rates):,.0f}':>13}"
            f" {middle.rate / count:>6,.0f} {middle.rate / base.rate:>7.2f}x"
            f"  {_shares(middle):<12} {'':<13} {_scaled(middle, 1000 / max(middle.count, 1))}"
            f" {sum(middle.cpu_s.values()) * 1000 / max(middle.count, 1):>6.3f}"
            f"  {'':<6} {_scaled(middle, 1 / max(middle.seconds, 1e-9), '.2f', (7, 5, 5))}"
            f" {_machine(middle):>9} {middle.load_average:>5.1f}"
        )
    for count, middle in medians.items():
        lines += [f"  {count} bridges: {note}" for note in middle.notes[1:]]
    return lines


def end_to_end_lines(e2e: EndToEnd) -> list[str]:
    """What the steady run offered, what arrived, and how long 202 to mail took."""
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(e2e.load.status_codes.items()))
    lat = e2e.latencies_ms
    return [
        f"end to end: {e2e.offered_rate} events/s offered for {e2e.seconds:g} s"
        f" (vegeta sent {e2e.load.rate:.0f}/s; answers {codes})",
        f"  202s {e2e.accepted}, mailed {e2e.mailed}, left queued {e2e.left_queued},"
        f" drained {e2e.drained_s:.1f} s after the load",
        f"  202 -> mail: p50 {_pct(lat, 50):.0f} ms, p99 {_pct(lat, 99):.0f} ms,"
        f" max {max(lat, default=0):.0f} ms ({len(lat)} receipts)",
        f"  POST latency: p50 {e2e.load.latency_ms['p50']:.1f} ms,"
        f" p99 {e2e.load.latency_ms['p99']:.1f} ms",
        f"  CPU {_per_event(e2e.cpu_s, e2e.mailed)}",
    ]


def memory(rounds: Sequence[Round], e2e: EndToEnd | None) -> str:
    """The largest RSS each part reached at the end of a round."""
    largest: dict[str, int] = {}
    for rss in [r.rss for r in rounds] + ([e2e.rss] if e2e else []):
        for name, size in rss.items():
            largest[name] = max(largest.get(name, 0), size)
    return ", ".join(f"{name} {size / MB:.0f}" for name, size in sorted(largest.items()))


def write(
    folder: Path, rounds: Sequence[Round], e2e: EndToEnd | None, summary: Sequence[str]
) -> Path:
    """Write the report into ``folder``; the path of its ``index.html``."""
    folder.mkdir(parents=True, exist_ok=True)
    results = {"rounds": [asdict(r) for r in rounds], "end_to_end": asdict(e2e) if e2e else None}
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    plots = [
        _latency_cdf(folder / "latency-cdf.png", rounds, e2e),
        _throughput(folder / "throughput.png", rounds, e2e),
        _queue_depth(folder / "queue-depth.png", rounds, e2e),
    ]
    if len({r.processes for r in rounds if r.hop == "bridge"}) > 1:
        plots.append(_scaling(folder / "bridge-scaling.png", rounds))
    figures = "\n".join(f'<p><img src="{p.name}" alt="{p.stem}"></p>' for p in plots)
    figures += "".join(
        f"<h2>profile: {html.escape(r.hop)} {html.escape(process)}</h2>"
        f"<pre>{html.escape(chr(10).join(top))}</pre>"
        for r in rounds
        for process, top in r.profile.items()
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>northbridge bench</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "img{max-width:100%}</style>"
        f"<h1>northbridge bench</h1><pre>{html.escape(chr(10).join(summary))}</pre>{figures}"
    )
    index = folder / "index.html"
    index.write_text(page)
    return index


def _percentile(middle: Round, percentile: float) -> float:
    return next(ms for p, ms in middle.percentiles if p == percentile)


def _pct(ordered: Sequence[float], percentile: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * percentile / 100))]


def _per_event(cpu_s: dict[str, float], count: int) -> str:
    parts = sorted(cpu_s.items(), key=lambda item: -item[1])
    shown = [f"{name} {seconds / max(count, 1) * 1000:.3f}" for name, seconds in parts if seconds]
    total = sum(cpu_s.values()) / max(count, 1) * 1000
    return f"{total:.3f} in all: " + ", ".join(shown)


def _shares(middle: Round) -> str:
    """Each bridge's part of the jobs, in percent: how evenly the partitions spread them."""
    total = sum(middle.shares.values())
    return "/".join(f"{100 * n / total:.0f}" for n in middle.shares.values()) if total else "-"


def _scaled(
    middle: Round, factor: float, form: str = ".3f", widths: tuple[int, ...] = (7, 6, 6)
) -> str:
    """The bridges' CPU (all of them), Redis's and Kafka's, each times ``factor``."""
    bridges = sum(s for name, s in middle.cpu_s.items() if name.startswith("bridge"))
    parts = (bridges, middle.cpu_s.get("redis", 0.0), middle.cpu_s.get("kafka", 0.0))
    return " ".join(f"{v * factor:>{w}{form}}" for v, w in zip(parts, widths, strict=True))


def _machine(middle: Round) -> str:
    """The machine's cores busy in the window, of all it has (others' work included)."""
    return f"{middle.machine_cpu_s / max(middle.seconds, 1e-9):.2f}/{os.cpu_count()}"


def _figure(columns: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    """A figure of one row of ``columns`` plots."""
    figure = Figure(figsize=(width, height))
    return figure, list(figure.subplots(1, columns, squeeze=False)[0])


def _calls(middle: Round) -> str:
    count = max(middle.count, 1)
    ordered = sorted(middle.redis_calls.items(), key=lambda item: -item[1])
    shown = [f"{name} {n / count:.1f}" for name, n in ordered if n / count >= 0.05]
    return f"{sum(middle.redis_calls.values()) / count:.1f}: " + ", ".join(shown)


def _rates(samples: Sequence[Sample], field: str) -> tuple[list[float], list[float]]:
    """Per-second rates of a counter between consecutive samples (every other: 1 s apart)."""
    if len(samples) < 2:
        return [], []
    start = samples[0].at
    times, rates = [], []
    for earlier, later in itertools.pairwise(samples):
        span = later.at - earlier.at
        if span > 0:
            times.append(later.at - start)
            rates.append((getattr(later, field) - getattr(earlier, field)) / span)
    return times, rates


def _latency_cdf(path: Path, rounds: Sequence[Round], e2e: EndToEnd | None) -> Path:
    figure, (left, right) = _figure(2, 12, 4.5)
    for number, gateway in enumerate(r for r in rounds if r.hop == "gateway"):
        left.plot([ms for _, ms in gateway.percentiles], [p for p, _ in gateway.percentiles],
                  label=f"round {number + 1}: {gateway.rate:,.0f} req/s")  # fmt: skip
    left.set(xscale="log", xlabel="POST latency (ms)", ylabel="percentile",
             title="gateway at saturation (wrk)")  # fmt: skip
    left.legend()
    if e2e is not None and e2e.latencies_ms:
        n = len(e2e.latencies_ms)
        right.plot(e2e.latencies_ms, [100 * (i + 1) / n for i in range(n)])
    right.set(xscale="log", xlabel="202 to mail (ms)", ylabel="percentile",
              title="end to end at a steady rate (receipts)")  # fmt: skip
    for axes in (left, right):
        axes.grid(visible=True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _throughput(path: Path, rounds: Sequence[Round], e2e: EndToEnd | None) -> Path:
    figure, axes = _figure(4, 16, 4)
    for hop, field, ax in (
        ("gateway", "in_kafka", axes[0]),
        ("bridge", "enqueued", axes[1]),
        ("workers", "sent", axes[2]),
    ):
        for number, one in enumerate(alone(rounds, hop)):  # the scaling: bridge-scaling.png
            ax.plot(*_rates(one.samples[::2], field), label=f"round {number + 1}")
        ax.set(title=f"{hop}: {UNITS[hop]}", xlabel="s")
        if ax.lines:  # a hop left out (--only) has none
            ax.legend()
    if e2e is not None:
        for field, label in (("in_kafka", "accepted"), ("enqueued", "enqueued"), ("sent", "sent")):
            axes[3].plot(*_rates(e2e.samples[::2], field), label=label)
        axes[3].set(title=f"end to end at {e2e.offered_rate}/s: events/s", xlabel="s")
        axes[3].legend()
    for ax in axes:
        ax.grid(visible=True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _scaling(path: Path, rounds: Sequence[Round]) -> Path:
    """Events/s by count of bridges (each round, the median, linear from one); cores by part."""
    mine = [r for r in rounds if r.hop == "bridge"]
    counts = sorted({r.processes for r in mine})
    medians = [median_round([r for r in mine if r.processes == n]) for n in counts]
    figure, (left, right) = _figure(2, 12, 4)
    left.plot([r.processes for r in mine], [r.rate for r in mine], "o", alpha=0.4, label="rounds")
    left.plot(counts, [m.rate for m in medians], "-o", label="median")
    left.plot(counts, [medians[0].rate * n / counts[0] for n in counts], ":", label="linear")
    left.set(title="bridges of one group: events/s", xlabel="bridges", xticks=counts)
    left.legend()
    bottom = [0.0] * len(counts)
    for part in ("bridge", "redis", "kafka"):
        cores = [
            sum(s for name, s in m.cpu_s.items() if name.startswith(part)) / m.seconds
            for m in medians
        ]
        right.bar(counts, cores, bottom=bottom, label=f"{part} (all)" if part == "bridge" else part)
        bottom = [b + c for b, c in zip(bottom, cores, strict=True)]
    machine = [m.machine_cpu_s / m.seconds for m in medians]
    right.bar(counts, [m - b for m, b in zip(machine, bottom, strict=True)], bottom=bottom,
              label="everything else", color="lightgrey")  # fmt: skip
    right.axhline(os.cpu_count() or 1, color="black", linewidth=0.8)
    right.set(title="cores busy in the median round", xlabel="bridges", xticks=counts)
    right.legend()
    for axes in (left, right):
        axes.grid(visible=True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path


def _queue_depth(path: Path, rounds: Sequence[Round], e2e: EndToEnd | None) -> Path:
    figure, (left, right) = _figure(2, 12, 4)
    for number, one in enumerate(r for r in rounds if r.hop == "workers"):
        start = one.samples[0].at if one.samples else 0
        left.plot([s.at - start for s in one.samples], [s.queued for s in one.samples],
                  label=f"round {number + 1}")  # fmt: skip
    left.set(title="workers: jobs queued", xlabel="s")
    if left.lines:
        left.legend()
    if e2e is not None and e2e.samples:
        start = e2e.samples[0].at
        right.plot([s.at - start for s in e2e.samples], [s.queued for s in e2e.samples])
    right.set(title="end to end: jobs queued", xlabel="s")
    for axes in (left, right):
        axes.grid(visible=True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return path
