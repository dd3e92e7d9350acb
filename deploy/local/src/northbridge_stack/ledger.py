"""The chaos run's ledger: what was answered, what was mailed how often, what healed. Pure.

The promise under test: every event answered 202 is mailed exactly once, whatever was
killed meanwhile; a 503 or a cut connection means "maybe" (the event may still have
reached Kafka), so those are counted, not judged, except that none may be mailed twice.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from northbridge_ops.load import Outcome

# A job whose worker was killed must run again within this (the bound).
RERUN_BOUND_S: Final = 120.0
# The load's events say where they come from; their names are their tokens.
LOC: Final = "chaos"


def subject_token(subject: str) -> str | None:
    """The token a North mail's subject names (``Notification: <token> in chaos``)."""
    prefix, suffix = "Notification: ", f" in {LOC}"
    if subject.startswith(prefix) and subject.endswith(suffix):
        return subject[len(prefix) : -len(suffix)]
    return None


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: when, whom, and the job a killed worker held (if any)."""

    at: float  # epoch seconds
    victim: str
    pid: int
    job_id: str = ""


@dataclass
class Ledger:
    """Everything the run observed, and the verdict drawn from it."""

    outcomes: list[Outcome]
    mails: Counter[str]  # token -> mails received
    first_mail_at: dict[str, float]  # token -> epoch seconds of its first mail
    kills: list[Kill]
    rerun_at: dict[str, float]  # killed job id -> epoch seconds it last ended (ran again)
    restarts: dict[str, int]
    left_down: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[str]:
        """Tokens answered 202."""
        return [o.token for o in self.outcomes if o.status == 202]

    @property
    def lost(self) -> list[str]:
        """Tokens answered 202 and never mailed: the promise broken."""
        return [t for t in self.accepted if self.mails[t] == 0]

    @property
    def doubled(self) -> list[str]:
        """Tokens mailed more than once, whatever their answer."""
        return sorted(t for t, n in self.mails.items() if n > 1)

    @property
    def rerun_waits(self) -> dict[str, float | None]:
        """Per job a killed worker held: seconds from the kill until it ran again (None: never).

        Negative: the job had ended just before the kill landed.
        """
        return {
            k.job_id: (self.rerun_at[k.job_id] - k.at if k.job_id in self.rerun_at else None)
            for k in self.kills
            if k.job_id
        }

    @property
    def ok(self) -> bool:
        """No lost 202, no doubled mail, every killed job run again in time, nothing down."""
        waits = self.rerun_waits.values()
        late = [w for w in waits if w is None or w > RERUN_BOUND_S]
        return not (self.lost or self.doubled or late or self.left_down)

    def report(self) -> list[str]:
        """The ledger as lines for a terminal."""
        statuses = Counter(o.status for o in self.outcomes)
        other = len(self.outcomes) - statuses[202] - statuses[503] - statuses[0]
        maybe = [o.token for o in self.outcomes if o.status != 202]
        accepted = self.accepted
        once = sum(1 for t in accepted if self.mails[t] == 1)
        waits = self.rerun_waits
        lines = [
            f"requests             {len(self.outcomes)}",
            f"  202 accepted       {statuses[202]}",
            f"  503 refused        {statuses[503]}",
            f"  connections cut    {statuses[0]}",
            f"  other answers      {other}",
            f"202s mailed once     {once} of {len(accepted)}",
            f"  never (lost)       {len(self.lost)}",
            f"  twice or more      {sum(1 for t in accepted if self.mails[t] > 1)}",
            f"503s and cuts mailed {sum(1 for t in maybe if self.mails[t])} of {len(maybe)}"
            " (a 503 says the event may still arrive)",
            f"doubled mails        {len(self.doubled)}",
            f"kills                {len(self.kills)}: {_kills(self.kills)}",
            _reruns(waits),
            f"latency 202 -> mail  {_latency(self.outcomes, self.first_mail_at)}",
            f"restarts             {_restarts(self.restarts)}",
            f"services left down   {', '.join(self.left_down) or 'none'}",
            *self.notes,
            f"verdict              {'OK' if self.ok else 'FAILED'}",
        ]
        ids = {o.token: o.event_id for o in self.outcomes}
        lines += [f"  lost: {t} (event id {ids[t]})" for t in self.lost[:20]]
        lines += [f"  doubled: {t} x{self.mails[t]}" for t in self.doubled[:20]]
        return lines


def _kills(kills: list[Kill]) -> str:
    counts = Counter(k.victim for k in kills)
    return ", ".join(f"{victim} x{n}" for victim, n in counts.items()) or "none"


def _reruns(waits: dict[str, float | None]) -> str:
    if not waits:
        return "killed jobs in hand  0 (no killed worker held a job)"
    known = [w for w in waits.values() if w is not None]
    never = sum(1 for w in waits.values() if w is None)
    longest = f"{max(known):.1f} s" if known else "-"
    return (
        f"killed jobs in hand  {len(waits)}: longest wait to run again {longest}"
        f" (bound {RERUN_BOUND_S:.0f} s), never run again {never}"
    )


def _latency(outcomes: list[Outcome], first_mail_at: dict[str, float]) -> str:
    delays = sorted(
        first_mail_at[o.token] - o.sent_at
        for o in outcomes
        if o.status == 202 and o.token in first_mail_at
    )
    if not delays:
        return "-"

    def at(share: float) -> float:
        return delays[min(len(delays) - 1, int(share * len(delays)))]

    return f"p50 {at(0.5):.2f} s, p99 {at(0.99):.2f} s, max {delays[-1]:.2f} s"


def _restarts(restarts: dict[str, int]) -> str:
    counted = {name: n for name, n in sorted(restarts.items()) if n}
    return ", ".join(f"{name} {n}" for name, n in counted.items()) or "none"
