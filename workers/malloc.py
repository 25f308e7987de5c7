"""tcmalloc for every trainer process, without asking.

With glibc malloc every XLA:CPU step faults in fresh pages; tcmalloc (Debian
`libtcmalloc-minimal4`) preloaded with `TCMALLOC_RELEASE_RATE=0` removes that cost
(25–35% of a transformer step on CPU; docs/performance.md). A preload only works from
process start, so:

* `reexec_with_tcmalloc()`: the `lc0-train` command re-executes itself once with the
  library preloaded when it is installed and not yet loaded;
* `worker_env()`: the environment variables the service gives its Ray worker processes
  (their runtime environment, on the embedded Ray and on a user's cluster alike).

`LC0_TRAIN_MALLOC=system` turns both off.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import Mapping

SWITCH = "LC0_TRAIN_MALLOC"  # "system": keep glibc malloc
SONAME = "libtcmalloc_minimal.so.4"
# Set in the re-executed process: never re-execute twice, even if the preload did not take.
REEXEC_MARKER = "LC0_TRAIN_MALLOC_REEXEC"
_SEARCH = (f"/usr/lib/*/{SONAME}", f"/usr/lib64/{SONAME}", f"/usr/lib/{SONAME}", f"/usr/local/lib/{SONAME}")


def _wanted(environ: Mapping[str, str]) -> bool:
    value = environ.get(SWITCH, "tcmalloc").strip().lower()
    if value not in ("tcmalloc", "system"):
        raise ValueError(f"${SWITCH} is {environ[SWITCH]!r}: it must be 'tcmalloc' (the default) or 'system'")
    return value == "tcmalloc"


def find_tcmalloc() -> Path | None:
    """The installed libtcmalloc_minimal.so.4, or None."""
    for pattern in _SEARCH:
        for match in sorted(glob.glob(pattern)):
            return Path(match)
    return None


def tcmalloc_loaded(pid: int | str = "self") -> bool:
    """Whether tcmalloc is mapped into process `pid` (Linux /proc; False where unreadable)."""
    try:
        return "libtcmalloc" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _preload(library: str, environ: Mapping[str, str]) -> dict[str, str]:
    existing = environ.get("LD_PRELOAD", "")
    return {"LD_PRELOAD": f"{library}:{existing}" if existing else library,
            "TCMALLOC_RELEASE_RATE": environ.get("TCMALLOC_RELEASE_RATE", "0")}


def worker_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Environment variables that preload tcmalloc in a Ray worker process ({} when off or not installed here).

    The library is named by its soname, so the dynamic loader finds it on each node in
    that node's own library path; a node without it starts the worker on glibc malloc.
    """
    if not _wanted(environ) or find_tcmalloc() is None:
        return {}
    return _preload(SONAME, environ)


def reexec_with_tcmalloc(environ: Mapping[str, str] = os.environ) -> None:
    """Replaces this process with the same command, tcmalloc preloaded, when it is installed and not loaded.

    Returns (doing nothing) when switched off, not installed, already loaded or already
    re-executed once; exits with an error naming $LC0_TRAIN_MALLOC when its value is bad.
    """
    try:
        wanted = _wanted(environ)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    if not wanted or environ.get(REEXEC_MARKER) or tcmalloc_loaded():
        return
    library = find_tcmalloc()
    if library is None:
        return
    env = {**environ, **_preload(str(library), environ), REEXEC_MARKER: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
