"""Restore anywhere: a checkpoint of one mesh and process count resumes on another, with the
train state resharded and the data position carried over (issue 16).

Real JAX processes (tests/restore_probe.py; gloo collectives on CPU, forced host devices;
two processes shard the train state with `fsdp` over all four devices, one replicates it)
train the shrunk tiny job on chunk files whose records are all one real lc0 position, told
apart only by their `visits` field (which neither the model nor the losses read): the losses
depend on the train state alone, so a resumed run must reproduce an uninterrupted run's, and
the ids say which records each step consumed.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, SHRINK
from tests.restore_probe import VISITS_OFFSET
from workers.data.files import read_chunk

FILES, RECORDS = 10, 5  # train files and records per file: an epoch is 50 records, 6.25 steps
BATCH, FIRST_STEPS, ALL_STEPS = 8, 3, 7
pytestmark = pytest.mark.slow


def _write_chunks(directory: Path, first_id: int, count: int) -> None:
    record = read_chunk(sorted((ROOT / "tests" / "data" / "lc0-selfplay").glob("*.gz"))[0])[10]
    directory.mkdir(parents=True)
    for f in range(count):
        rows = np.repeat(record[None], RECORDS, axis=0)
        ids = np.arange(RECORDS, dtype="<u4") + first_id + 100 * f
        rows[:, VISITS_OFFSET : VISITS_OFFSET + 4] = ids.view(np.uint8).reshape(RECORDS, 4)
        (directory / f"game_{f:03d}.gz").write_bytes(gzip.compress(rows.tobytes(), compresslevel=1))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("identified")
    _write_chunks(root / "train", 1, FILES)  # ids 100·file + 1 … 100·file + 5
    _write_chunks(root / "test", 10_001, 2)
    return root


def _run(data: Path, job_dir: Path, processes: int, devices: int, total_steps: int) -> list[dict]:
    """Runs the job on `processes` JAX processes of `devices` devices each; their outputs. Several
    processes shard the train state over all their devices (`fsdp` across processes)."""
    mesh = [f"resources.mesh.fsdp={processes * devices}"] if processes > 1 else []
    overrides = [*mesh, *SHRINK, f"dataset.input_train={data / 'train'}", f"dataset.input_test={data / 'test'}",
                 f"training.batch_size={BATCH}", f"training.shuffle_size={RECORDS}", f"training.total_steps={total_steps}",
                 "training.test_steps=1000", "training.train_avg_report_steps=1", "training.num_test_positions=8",
                 "dataset.prefetch_batches=1", f"resources.hosts={processes}"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        coordinator = f"127.0.0.1:{s.getsockname()[1]}"
    settings = [{"process": i, "processes": processes, "coordinator": coordinator, "devices": devices,
                 "job_dir": str(job_dir), "overrides": overrides} for i in range(processes)]
    running = [subprocess.Popen([sys.executable, "-m", "tests.restore_probe", json.dumps(s)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in settings]
    outputs = []
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-4000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def _train_batches(output: dict, steps: int) -> list[list[int]]:
    """The ids of the first `steps` train batches the process decoded (later ones were read ahead)."""
    return [ids for ids in output["batches"] if ids[0] < 10_000][:steps]


def _losses(outputs: list[dict]) -> dict[int, float]:
    return {int(step): loss for step, loss in outputs[0]["losses"].items()}


@pytest.fixture(scope="module")
def uninterrupted(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, float]:
    return _losses(_run(data, tmp_path_factory.mktemp("uninterrupted"), 1, 1, ALL_STEPS))


@pytest.mark.parametrize(("first", "second"), [((2, 2), (1, 1)), ((1, 4), (2, 2))], ids=["2x2-to-1x1", "1x4-to-2x2"])
def test_a_checkpoint_resumes_on_another_mesh_and_process_count_where_the_data_left_off(
        data: Path, tmp_path: Path, uninterrupted: dict[int, float], first: tuple[int, int], second: tuple[int, int]) -> None:
    before = _run(data, tmp_path, *first, FIRST_STEPS)
    after = _run(data, tmp_path, *second, ALL_STEPS)
    for (processes, _), outputs in ((first, before), (second, after)):  # fsdp across the two processes: sharded
        assert all((o["sharded_leaves"] > 0) == (processes > 1) for o in outputs)

    # The state (weights, optimizer moments, step) carried over: the losses are the uninterrupted run's.
    losses = _losses(before) | _losses(after)
    assert sorted(losses) == list(range(1, ALL_STEPS + 1))
    np.testing.assert_allclose([losses[s] for s in sorted(losses)], [uninterrupted[s] for s in sorted(losses)], rtol=2e-5)

    # Every process fed BATCH / processes records per step.
    read_before = [_train_batches(o, FIRST_STEPS) for o in before]
    assert all(len(b) == FIRST_STEPS and all(len(ids) == BATCH // first[0] for ids in b) for b in read_before)
    first_ids = [i for batches in read_before for ids in batches for i in ids]
    assert len(set(first_ids)) == len(first_ids) == FIRST_STEPS * BATCH
    # Files read whole before the checkpoint are not read again; the rest of the epoch is read once.
    whole = {i // 100 for i in first_ids if all(100 * (i // 100) + r + 1 in first_ids for r in range(RECORDS))}
    rest = {100 * f + r + 1 for f in range(FILES) if f not in whole for r in range(RECORDS)}
    rest_files = FILES - len(whole)
    rest_ids = []
    for q, output in enumerate(after):  # process q is dealt every second[0]-th remaining file: its first records
        ids = [i for batch in _train_batches(output, ALL_STEPS - FIRST_STEPS) for i in batch]
        rest_ids += ids[: RECORDS * len(range(q, rest_files, second[0]))]
    assert len(rest_ids) == len(set(rest_ids)) and set(rest_ids) == rest
    # What is read twice: the records taken from the window each old process was in (a window is one file here).
    replayed = set(first_ids) & rest
    assert len(replayed) == len(first_ids) - RECORDS * len(whole)
    assert 0 < len(replayed) <= first[0] * RECORDS
    assert set(first_ids) | rest == {100 * f + r + 1 for f in range(FILES) for r in range(RECORDS)}  # nothing skipped
