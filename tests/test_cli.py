"""The `gen-data` and `data stats` commands, run in-process through the CLI entry point."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from service.cli import main


def test_gen_data_then_stats_reports_files_records_and_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gen-data", "--out", str(tmp_path), "--games", "3", "--seed", "5", "--max-plies", "30"]) == 0
    (tmp_path / "zz_truncated.gz").write_bytes(gzip.compress(b"\x06\x00\x00\x00" + b"\x00" * 100))
    capsys.readouterr()
    assert main(["data", "stats", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] == 4
    assert list(stats["skipped_files"]) == [str(tmp_path / "zz_truncated.gz")]
    assert "truncated" in next(iter(stats["skipped_files"].values()))
    assert stats["input_formats"] == {"1": stats["records"]}
    assert sum(stats["results"].values()) == stats["records"] > 0
    assert 1 < stats["mean_legal_moves"] < 60


def test_stats_of_nothing_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", str(tmp_path / "missing")]) == 2
    assert "matches no chunk files" in capsys.readouterr().err
