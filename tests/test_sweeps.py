"""A sweep's job that fails, in process: what ``run_job`` writes and returns, and what the
end-of-sweep report collects, on folders made by hand (the CLI sweep is in
``test_reliability.py``, marked slow).

Fast on purpose: ``make mutants`` runs these for every mutant of ``musegen/sweeps.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from musegen import sweeps
from musegen.errors import UserError


def test_a_job_that_finishes_returns_its_value_and_records_nothing(tmp_path: Path) -> None:
    assert sweeps.run_job(lambda: 0.25, tmp_path, failed_value=-1.0) == 0.25
    assert not (tmp_path / sweeps.FAILED).exists()
    assert sweeps.read_failure(tmp_path) is None


def test_a_user_error_is_recorded_in_one_line_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def mistake() -> None:
        raise UserError("data.seq_len must be an integer >= 1, got 0\n(a second line)")

    failed = object()  # returned as given, whatever it is
    with caplog.at_level(logging.ERROR, logger="musegen.sweeps"):
        assert sweeps.run_job(mistake, tmp_path, failed_value=failed) is failed
    record = json.loads((tmp_path / sweeps.FAILED).read_text())
    assert record == {
        "error": "data.seq_len must be an integer >= 1, got 0",
        "kind": "user error",
        "traceback": None,
    }
    assert [r.getMessage() for r in caplog.records] == [
        "job failed: data.seq_len must be an integer >= 1, got 0"
    ]


def test_the_reason_reaches_the_jobs_log_file_once(tmp_path: Path) -> None:
    """Hydra gives each job a ``FileHandler`` on the root logger (its ``train.log``), where
    ``musegen.compare`` finds the reason: exactly one line."""
    log_file = tmp_path / "train.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        sweeps.run_job(lambda: 1 / 0, tmp_path)
    finally:
        root.removeHandler(handler)
        handler.close()
    assert log_file.read_text().splitlines() == ["job failed: division by zero"]


def test_a_bug_is_recorded_with_its_kind_and_traceback(tmp_path: Path) -> None:
    def bug() -> None:
        raise KeyError("seq_len")

    assert sweeps.run_job(bug, tmp_path) is None  # the default failed value
    record = json.loads((tmp_path / sweeps.FAILED).read_text())
    assert record["error"] == "'seq_len'"
    assert record["kind"] == "KeyError (a bug: traceback below)"
    assert record["traceback"].startswith("Traceback (most recent call last):")
    assert record["traceback"].rstrip().endswith("KeyError: 'seq_len'")


def test_ctrl_c_stops_the_sweep_and_records_nothing(tmp_path: Path) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweeps.run_job(interrupted, tmp_path)
    assert not (tmp_path / sweeps.FAILED).exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"error": "out of memory"}', "out of memory"),
        ('"a plain string"', "a plain string"),
        ("{not json", "failed (its failed.json is unreadable)"),
    ],
)
def test_read_failure_gives_the_reason_or_says_it_is_unreadable(
    tmp_path: Path, text: str, reason: str
) -> None:
    (tmp_path / sweeps.FAILED).write_text(text)
    assert sweeps.read_failure(tmp_path) == reason


def test_the_sweep_report_names_each_failed_job_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs 1, 3 and 5 failed (3 without a reason, 5 with an unreadable record), the others
    finished; a previous sweep's failures are forgotten."""
    for job in [*"012345", "10", "11"]:
        (tmp_path / job).mkdir()
    (tmp_path / "1" / sweeps.FAILED).write_text('{"error": "bad seq_len"}')
    (tmp_path / "3" / sweeps.FAILED).write_text('{"error": ""}')
    (tmp_path / "5" / sweeps.FAILED).write_text("[")
    (tmp_path / "10" / sweeps.FAILED).write_text('{"error": "nan loss"}')
    monkeypatch.setattr(sweeps, "failed_jobs", [("7", "from an earlier sweep")])
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with caplog.at_level(logging.ERROR, logger="musegen.sweeps"):
        sweeps.SweepReport().on_multirun_end(config)
    assert sweeps.failed_jobs == [
        ("1", "bad seq_len"),
        ("3", "failed"),
        ("5", "failed (its failed.json is unreadable)"),
        ("10", "nan loss"),  # in number order: 10 after 5
    ]
    expected = (
        "job 1 (bad seq_len); job 3 (failed); job 5 (failed (its failed.json is unreadable)); "
        "job 10 (nan loss)"
    )
    assert sweeps.summary() == expected
    assert [r.getMessage() for r in caplog.records] == [f"4 sweep job(s) failed: {expected}"]


def test_a_sweep_without_failures_reports_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "0").mkdir()
    monkeypatch.setattr(sweeps, "failed_jobs", [("7", "from an earlier sweep")])
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with caplog.at_level(logging.ERROR, logger="musegen.sweeps"):
        sweeps.SweepReport().on_multirun_end(config)
    assert sweeps.failed_jobs == [] and sweeps.summary() == ""
    assert not caplog.records


@pytest.mark.parametrize(("mode", "multirun"), [(RunMode.MULTIRUN, True), (RunMode.RUN, False)])
def test_a_job_knows_whether_it_runs_in_a_multirun(mode: RunMode, multirun: bool) -> None:
    # Hydra's config is process-wide: a test before this one in the same process (a
    # compose_config) may have left one, so it is put aside here and restored after
    earlier = HydraConfig.instance().cfg
    HydraConfig.instance().cfg = None
    try:
        assert sweeps.in_multirun() is False  # outside Hydra
        hydra = OmegaConf.structured(HydraConf)
        hydra.mode = mode
        HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra}))
        assert sweeps.in_multirun() is multirun
    finally:
        HydraConfig.instance().cfg = earlier


def test_failed_jobs_are_listed_in_job_number_order_then_other_folders() -> None:
    """Hydra's job folders by number (2 before 10, as text would not), a folder of another
    name (a job written by hand) after them all, in name order."""
    names = ["10", "extra", "2", "a", "0"]
    assert sorted(names, key=sweeps._job_order) == ["0", "2", "10", "a", "extra"]
