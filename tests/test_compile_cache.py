"""The persistent compilation cache (workers/training/compile_cache.py) around real training runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import Event, EventBus
from workers.layout import JobPaths
from workers.training.compile_cache import ENTRY_SUFFIX, prune
from workers.training.loop import run_training


def _first_train_report(data: dict[str, Path], job_dir: Path, cache: Path) -> dict:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, *data_overrides(data), "training.total_steps=2",
                                          "training.train_avg_report_steps=1", "training.test_steps=1000000"]))
    bus, events = EventBus(), list[Event]()
    bus.subscribe(events.append)
    run_training(job, JobPaths(job_dir), bus, compile_cache=cache)
    return next(e.info for e in events if e.kind == "train")


def _entries(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in cache.glob(f"*{ENTRY_SUFFIX}")}


@pytest.mark.slow
def test_a_second_run_loads_its_programs_from_the_cache_and_a_truncated_entry_is_compiled_again(
        generated_data: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "compile_cache"
    cold = _first_train_report(generated_data, tmp_path / "a", cache)
    written = _entries(cache)
    assert cold["compile_cache_hits"] == [0] and cold["compile_cache_misses"][0] > 0
    assert any(name.startswith("jit_train") for name in written)

    warm = _first_train_report(generated_data, tmp_path / "b", cache)
    assert warm["compile_cache_hits"][0] > 0 and warm["compile_cache_misses"] == [0]
    assert _entries(cache) == written  # nothing compiled, nothing rewritten
    print(f"first train report: start-up {cold['startup_seconds']:.2f} s cold, {warm['startup_seconds']:.2f} s warm")

    # A writer killed mid-write leaves a truncated entry: a warning and a compilation, never a failed run.
    # One of the train steps (a fresh closure, so compiled in every run of this process).
    step = min((cache / name for name in written if name.startswith("jit_train-")), key=lambda p: p.stat().st_size)
    step.write_bytes(step.read_bytes()[: step.stat().st_size // 2])
    with pytest.warns(UserWarning, match="Error reading persistent compilation cache entry for 'jit_train'"):
        damaged = _first_train_report(generated_data, tmp_path / "c", cache)
    assert damaged["compile_cache_misses"] == [1] and damaged["compile_cache_hits"] == [warm["compile_cache_hits"][0] - 1]


def test_an_unusable_cache_directory_is_a_warning_and_the_run_compiles_without_it(
        generated_data: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache's parent should be")
    with caplog.at_level(logging.WARNING, logger="workers.training.compile_cache"):
        report = _first_train_report(generated_data, tmp_path / "job", blocker / "compile_cache")
    assert f"compilation cache {blocker / 'compile_cache'} is unusable" in caplog.text
    assert report["startup_seconds"] > 0 and "compile_cache_hits" not in report


def test_prune_deletes_the_oldest_written_entries_beyond_the_bound(tmp_path: Path) -> None:
    sizes = {"a": 400, "b": 300, "c": 200, "d": 100}  # written in this order
    for age, (key, size) in enumerate(sizes.items()):
        path = tmp_path / f"{key}{ENTRY_SUFFIX}"
        path.write_bytes(b"x" * size)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "unrelated.txt").write_bytes(b"y" * 1000)  # not an entry: neither counted nor deleted

    assert prune(tmp_path, 1000) == []
    deleted = prune(tmp_path, 550)  # 1000 bytes: drop a (400) → 600, then b (300) → 300
    assert [p.name for p in deleted] == [f"a{ENTRY_SUFFIX}", f"b{ENTRY_SUFFIX}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"c{ENTRY_SUFFIX}", f"d{ENTRY_SUFFIX}", "unrelated.txt"]
