"""The package layering: the trainer (`workers`) never depends on the control plane (`service`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_workers_never_import_service() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m == "service" or m.startswith("service."))
        for path in (ROOT / "workers").rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_import_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from service.cli import main\n    import service\n")
    assert _imported_modules(probe) == {"service.cli", "service"}
