"""The chaos ledger judges what it counted: lost 202s, doubled mails, late re-runs, parts down."""

from collections import Counter
from dataclasses import replace
from typing import Any

from northbridge_ops.load import Outcome
from northbridge_stack.ledger import RERUN_BOUND_S, Kill, Ledger, subject_token


def ledger(**changes: Any) -> Ledger:
    base = Ledger(
        outcomes=[Outcome("a", 202, 0.0), Outcome("b", 503, 0.0), Outcome("c", 0, 0.0, "cut")],
        mails=Counter({"a": 1}),
        first_mail_at={"a": 1.5},
        kills=[Kill(10.0, "email-worker-1", 42, "job-1")],
        rerun_at={"job-1": 100.0},
        restarts={"email-worker-1": 1},
        left_down=[],
    )
    return replace(base, **changes)


def test_a_clean_run_is_ok() -> None:
    """Every 202 mailed once, the killed job re-run in time: OK, and the report says so."""
    run = ledger()
    assert run.ok
    report = "\n".join(run.report())
    assert "202s mailed once     1 of 1" in report
    assert "longest wait to run again 90.0 s" in report
    assert report.endswith("verdict              OK")


def test_a_lost_202_fails() -> None:
    """A 202 never mailed breaks the promise; 503s and cuts never mailed do not."""
    assert not ledger(mails=Counter()).ok
    assert ledger(mails=Counter({"a": 1})).ok


def test_a_doubled_mail_fails_whatever_the_answer() -> None:
    """Two mails for one token fail the run, even for a 503 (it was one event)."""
    assert not ledger(mails=Counter({"a": 2})).ok
    assert not ledger(mails=Counter({"a": 1, "b": 2})).ok


def test_a_killed_job_must_run_again_in_time() -> None:
    """Never re-run, or re-run past the bound: the run fails."""
    assert not ledger(rerun_at={}).ok
    assert not ledger(rerun_at={"job-1": 10.0 + RERUN_BOUND_S + 1}).ok


def test_a_part_left_down_fails() -> None:
    """Healing means every part serves again at the end."""
    assert not ledger(left_down=["bridge"]).ok


def test_tokens_are_found_in_subjects() -> None:
    """The load's token is read back from a North mail's subject, and only from one."""
    assert subject_token("Notification: chaos-1f2e in chaos") == "chaos-1f2e"
    assert subject_token("Message for chaos-1f2e (chaos)") is None
