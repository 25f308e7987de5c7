"""The generated Python checked into proto/ matches what protoc generates from the sources."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    sources = sorted((ROOT / "proto" / "lc0train").glob("*.proto"))
    assert sources, "no .proto sources found"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
         f"--grpc_python_out={tmp_path}",
         *map(str, sources)],
        check=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    assert generated, "protoc produced nothing"
    stale = [str(p) for p in generated if (tmp_path / p).read_bytes() != (ROOT / "proto" / p).read_bytes()]
    assert not stale, f"generated code out of date, run `make proto`: {stale}"
