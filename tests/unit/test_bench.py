"""The benchmark's arithmetic: rates, CPU per event, the table, py-spy's stacks summed up."""

from pathlib import Path

from northbridge_bench import cli, profiles, report
from northbridge_bench.hops import Round
from northbridge_bench.probes import Sample
from northbridge_bench.processes import Usage, spent


def sample(at: float, sent: int) -> Sample:
    return Sample(at=at, in_kafka=0, enqueued=0, sent=sent, queued=0)


def a_round(hop: str, rate: float, count: int = 1000) -> Round:
    return Round(
        hop=hop,
        rate=rate,
        count=count,
        seconds=10,
        cpu_s={"gateway": 0.5, "kafka": 0.25},
        rss={"gateway": 200 * report.MB},
        samples=[sample(0, 0), sample(1, 100)],
        percentiles=[(50, 2.0), (99, 9.0)],
        redis_calls={"hset": 2000, "expire": 3000},
    )


def test_rates_are_per_second_between_samples() -> None:
    times, rates = report._rates([sample(0, 0), sample(0.5, 100), sample(1.5, 100)], "sent")
    assert times == [0.5, 1.5]
    assert rates == [200.0, 0.0]


def test_cpu_spent_counts_a_part_that_started_in_between_in_full() -> None:
    before = {"bridge": Usage(2.0, 0, 1)}
    after = {"bridge": Usage(3.5, 0, 1), "worker": Usage(1.25, 0, 1)}
    assert spent(before, after) == {"bridge": 1.5, "worker": 1.25}


def test_the_table_gives_min_median_max_and_the_cost_per_event() -> None:
    rounds = [a_round("gateway", r) for r in (4000, 5000, 4500)] + [a_round("bridge", 6000)]
    lines = report.table(rounds, None, "heading")
    gateway = next(line for line in lines if line.startswith("gateway "))
    assert gateway.split() == ["gateway", "req/s", "3", "4,000", "4,500", "5,000"]
    assert "  gateway: latency p50 2.0 ms, p99 9.0 ms" in "\n".join(lines)
    assert "  gateway: CPU 0.750 in all: gateway 0.500, kafka 0.250" in lines
    assert "  gateway: Redis commands per event 5.0: expire 3.0, hset 2.0" in lines
    assert lines[-1] == "memory after the run (RSS): gateway 200"


def test_py_spy_stacks_become_each_functions_share(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (app.py:1);handle (intake.py:10);publish (publisher.py:5) 30\n"
        "main (app.py:1);handle (intake.py:12) 10\n"
        "main (app.py:1);idle (loop.py:3) 60\n"
    )
    top = profiles.top_functions(raw, top=3)
    assert top == ["100.0%  main (app.py)", " 60.0%  idle (loop.py)", " 40.0%  handle (intake.py)"]


def test_bridge_rows_are_one_bridge_and_the_scaling_has_its_own_table() -> None:
    """The bridge hop's row is its one-bridge rounds; each count gets a row of the scaling."""
    rounds = []
    for count, rate in ((1, 6000), (2, 9000), (3, 9600)):
        one = a_round("bridge", rate)
        one.processes = count
        one.cpu_s = {"bridge": 0.1 * count, "redis": 0.1, "kafka": 0.05}
        one.shares = {f"bridge-{n}": 500 for n in range(count)}
        one.notes = ["backlog: 1,000 events in 6 partitions of north-updates (160 to 170 each)"]
        rounds.append(one)
    lines = report.table(rounds, None, "heading")
    assert next(line for line in lines if line.startswith("bridge ")).split()[3:] == ["6,000"] * 3
    rows = [line.split() for line in lines if line.startswith("  ") and line.split()[0] in "123"]
    assert [row[:5] for row in rows] == [
        ["1", "6,000", "6,000-6,000", "6,000", "1.00x"],
        ["2", "9,000", "9,000-9,000", "4,500", "1.50x"],
        ["3", "9,600", "9,600-9,600", "3,200", "1.60x"],
    ]
    assert rows[2][5:10] == ["33/33/33", "0.300", "0.100", "0.050", "0.450"]


def test_a_hop_brings_the_hops_that_make_its_input() -> None:
    """--only bridge runs the gateway first (its backlog); end to end needs nothing before it."""
    assert cli._with_inputs(["bridge"]) == ["gateway", "bridge"]
    assert cli._with_inputs(["workers"]) == ["gateway", "bridge", "workers"]
    assert cli._with_inputs(["end-to-end"]) == ["end-to-end"]
    assert cli._with_inputs(["gateway", "end-to-end"]) == ["gateway", "end-to-end"]
