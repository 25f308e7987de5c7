"""Dataset summary for `lc0-train data stats PATH... [--json]`.

Reads every chunk once (raw records only, no plane decoding) and reports what a trainer
needs to know before a run: how many usable records, which files are broken and why, the
record versions (V6, V7) and input formats present, how many legal moves positions have and
how games ended.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from workers.data.archives import ArchiveCache
from workers.data.files import ChunkError, discover_chunks, f32_field, read_chunk, u32_field
from workers.data.v6 import InputFormat

logger = logging.getLogger(__name__)

_INPUT_FORMAT_OFFSET = 4
_POLICY_OFFSET, _POLICY_SIZE = 8, 1858
_RESULT_Q_OFFSET, _RESULT_D_OFFSET = 8308, 8312


def dataset_stats(specs: Sequence[str]) -> dict[str, Any]:
    """Summarise the chunks that `specs` name (see `files.discover_chunks`); JSON-serialisable.

    Results are from the side to move's view: a record counts as a win when result_q > 0.5,
    a loss when result_q < -0.5 and a draw otherwise.
    """
    archives = ArchiveCache()
    paths = discover_chunks(specs, archives)
    formats: Counter[int] = Counter()
    versions: Counter[int] = Counter()  # records per version (every record of a file has the same)
    skipped: dict[str, str] = {}
    records = legal_moves = wins = losses = 0
    for path in paths:
        try:
            rows = read_chunk(path, archives)
        except ChunkError as exc:
            logger.warning("skipping chunk %s: %s", path, exc.reason)
            skipped[str(path)] = exc.reason
            continue
        records += len(rows)
        versions[int(u32_field(rows, 0)[0])] += len(rows)
        formats.update(u32_field(rows, _INPUT_FORMAT_OFFSET).tolist())
        legal_moves += int(np.count_nonzero(f32_field(rows, _POLICY_OFFSET, _POLICY_SIZE) >= 0))
        result_q = f32_field(rows, _RESULT_Q_OFFSET)[:, 0]
        wins += int(np.count_nonzero(result_q > 0.5))
        losses += int(np.count_nonzero(result_q < -0.5))
    return {
        "files": len(paths),
        "files_read": len(paths) - len(skipped),
        "records": records,
        "skipped_files": skipped,
        "versions": {str(version): count for version, count in sorted(versions.items())},
        "input_formats": {str(fmt): count for fmt, count in sorted(formats.items())},
        "mean_legal_moves": legal_moves / records if records else None,
        "results": {"win": wins, "draw": records - wins - losses, "loss": losses},
    }


def format_stats_table(stats: dict[str, Any]) -> str:
    """Human-readable text of a `dataset_stats` result."""
    records = stats["records"]

    def share(count: int) -> str:
        return f"{count} ({100 * count / records:.1f}%)" if records else str(count)

    mean_legal = stats["mean_legal_moves"]
    versions = ", ".join(f"V{v}: {share(n)}" for v, n in stats["versions"].items())
    formats = ", ".join(f"{_format_name(int(f))}: {share(n)}" for f, n in stats["input_formats"].items())
    results = "  ".join(f"{outcome} {share(n)}" for outcome, n in stats["results"].items())
    lines = [
        f"files          {stats['files']} ({len(stats['skipped_files'])} skipped)",
        f"records        {records}",
        f"versions       {versions or '-'}",
        f"input formats  {formats or '-'}",
        f"legal moves    {'-' if mean_legal is None else f'{mean_legal:.2f}'} per position (mean)",
        f"results        {results}  (side to move)",
    ]
    if stats["skipped_files"]:
        lines.append("skipped files:")
        lines.extend(f"  {path}: {reason}" for path, reason in stats["skipped_files"].items())
    return "\n".join(lines)


def _format_name(value: int) -> str:
    try:
        return f"{value} ({InputFormat(value).name.lower()})"
    except ValueError:
        return f"{value} (unknown)"
