"""The persistent compilation cache: XLA executables kept on the job storage across attempts.

Every attempt of a job is a fresh process that traces and compiles the same programs again.
With the cache on, JAX looks each program up by a key made of its HLO, the compile options,
the JAX/XLA version and the device kind and topology before compiling it, so an attempt after
the first (a restart, a preemption, a resubmitted job with the same shapes) loads the
executables instead. Only JAX process 0 writes entries; every process reads them.

A cache that cannot be created or written, or an entry that does not read back, costs a
warning and a compilation, never the run. The directory is bounded: `prune` deletes the
oldest entries beyond `max_bytes` when a run starts.

XLA:CPU gives each process of a multi-process job its own topology fingerprint, which JAX
puts in the key, so the other processes never find what process 0 wrote and compile every
program again (on TPU and GPU the keys agree). `_cpu_keys_shared_across_processes` keys a
multi-process CPU program by device kinds and this host's CPU features instead; the device
assignment, in the compile options, stays in the key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import jax
from jax.experimental.compilation_cache import compilation_cache

log = logging.getLogger(__name__)

ENTRY_SUFFIX = "-cache"  # how JAX names an entry file: <key>-cache
DEFAULT_MAX_BYTES = 10 * 2**30
_HITS = "/jax/compilation_cache/cache_hits"
_REQUESTS = "/jax/compilation_cache/compile_requests_use_cache"
# Every compilation is worth keeping: the trainer's CPU programs compile in well under JAX's default 1 s threshold,
# and any size of entry (-1: no minimum, and no filesystem-specific override).
_SETTINGS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
    "jax_raise_persistent_cache_errors": False,
}


@dataclasses.dataclass
class CacheCounts:
    """Compilations that consulted the cache since the run began, and how many it answered."""

    directory: Path
    requests: int = 0
    hits: int = 0

    @property
    def misses(self) -> int:
        return self.requests - self.hits

    def observe(self, event: str, **kwargs: Any) -> None:
        """A `jax.monitoring` event listener."""
        if event == _REQUESTS:
            self.requests += 1
        elif event == _HITS:
            self.hits += 1


@dataclasses.dataclass
class Startup:
    """When a trainer attempt began (wall clock) and what the compilation cache did since."""

    began: float
    cache: CacheCounts | None = None

    def report(self) -> dict[str, Any]:
        """This process's seconds to the attempt's first step (call when it is done), cache hits and misses."""
        info: dict[str, Any] = {"startup_seconds": round(time.time() - self.began, 3)}
        if self.cache is not None:
            info |= {"compile_cache_hits": self.cache.hits, "compile_cache_misses": self.cache.misses}
        return info


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The first train report's start-up fields from every process's `Startup.report()`: the
    slowest process's seconds (the first step waits for it) and the hits and misses of each process."""
    info: dict[str, Any] = {"startup_seconds": max(r["startup_seconds"] for r in reports)}
    if all("compile_cache_hits" in r for r in reports):
        info |= {"compile_cache_hits": [r["compile_cache_hits"] for r in reports],
                 "compile_cache_misses": [r["compile_cache_misses"] for r in reports]}
    return info


@contextlib.contextmanager
def persistent_compile_cache(directory: Path | None, *, prune_to: int | None = DEFAULT_MAX_BYTES) -> Iterator[CacheCounts | None]:
    """JAX's persistent compilation cache in `directory` while the block runs (None: off), counting hits.

    Enter it before the process's first compilation of the programs to cache. `prune_to`:
    first delete the oldest entries beyond this many bytes (None: leave the directory as it
    is; the job's other processes pass None). Yields None when the cache is off or unusable.
    """
    if directory is None:
        yield None
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass  # writable
        if prune_to is not None:
            prune(directory, prune_to)
    except OSError as err:
        log.warning("compilation cache %s is unusable, compiling without it: %s", directory, err)
        yield None
        return
    previous = {name: getattr(jax.config, name) for name in (*_SETTINGS, "jax_compilation_cache_dir")}
    for name, value in _SETTINGS.items():
        jax.config.update(name, value)
    compilation_cache.set_cache_dir(str(directory))
    compilation_cache.reset_cache()  # JAX decides once per process whether to use a cache: decide again now
    counts = CacheCounts(directory)
    jax.monitoring.register_event_listener(counts.observe)
    try:
        with _cpu_keys_shared_across_processes():
            yield counts
    finally:
        jax.monitoring.unregister_event_listener(counts.observe)
        for name, value in previous.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


def prune(directory: Path, max_bytes: int) -> list[Path]:
    """Deletes the oldest-written entries until the entries fit in `max_bytes`; returns those deleted.

    Entries another process deletes or writes meanwhile are skipped: a deleted entry that was
    still in use costs one compilation, after which it is written again.
    """
    entries = []
    for path in directory.glob(f"*{ENTRY_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stat = path.stat()
            entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    deleted = []
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            deleted.append(path)
        total -= size
    if deleted:
        log.info("compilation cache %s: deleted the %d oldest entries (over %d bytes)", directory, len(deleted), max_bytes)
    return deleted


@contextlib.contextmanager
def _cpu_keys_shared_across_processes() -> Iterator[None]:
    """While the block runs, a program over the CPU devices of several processes has one cache key on all of them.

    Replaces, in JAX's private key module (feature-detected: without it processes other than
    0 just compile), the hash of the devices' topology, which differs per process on CPU,
    by their device kinds and this host's CPU features, so a host with other features
    never loads another's executable.
    """
    from jax._src import cache_key  # private: there is no public hook for this

    original = getattr(cache_key, "_hash_accelerator_config", None)
    hash_string = getattr(cache_key, "_hash_string", None)
    if original is None or hash_string is None:
        log.debug("jax has no cache_key._hash_accelerator_config: multi-process CPU programs stay keyed per process")
        yield
        return
    features = _host_cpu_features()

    def hash_accelerator_config(hash_obj: Any, accelerators: Any) -> None:
        flat = list(accelerators.flat)
        if len({d.process_index for d in flat}) > 1 and all(d.platform == "cpu" for d in flat):
            for device in flat:
                hash_string(hash_obj, device.device_kind)
            hash_string(hash_obj, features)
        else:
            original(hash_obj, accelerators)

    cache_key._hash_accelerator_config = hash_accelerator_config
    try:
        yield
    finally:
        cache_key._hash_accelerator_config = original


def _host_cpu_features() -> str:
    """The machine type and, on Linux, the CPU flags (instruction set extensions) of this host."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith(("flags", "Features"))), "")
    return f"{platform.machine()} {' '.join(sorted(flags.partition(':')[2].split()))}"
