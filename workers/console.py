"""Terminal view of a training run: a rich progress bar and one line per report."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from workers.events import Event

_SHOWN = ("policy_loss", "value_loss", "moves_left_loss", "total_loss", "policy_accuracy", "value_accuracy")


class ConsoleReporter:
    """An EventBus subscriber that renders progress and report lines on the terminal."""

    def __init__(self, total_steps: int, console: Console | None = None):
        self._progress = Progress(
            TextColumn("[bold]step"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task("train", total=total_steps, rate="")
        self._total = total_steps

    def __enter__(self) -> "ConsoleReporter":
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        metrics = event.metrics
        if event.kind == "train":
            # Steps shown relative to the current run segment, which ends at a multiple of total_steps.
            done = event.step % self._total or self._total
            self._progress.update(self._task, completed=done, rate=f"{metrics.get('positions_per_s', 0):,.0f} pos/s")
        if event.kind in ("train", "test", "validation"):
            parts = [f"{name}={metrics[name]:.4f}" for name in _SHOWN if name in metrics]
            if "learning_rate" in metrics:
                parts.append(f"lr={metrics['learning_rate']:.3g}")
            if "positions_per_s" in metrics:
                parts.append(f"{metrics['positions_per_s']:,.0f} pos/s")
            self._progress.console.print(f"{event.kind:>10} step {event.step:>7}  " + "  ".join(parts))
        elif event.kind in ("cycle", "published"):
            self._progress.console.print(f"{event.kind:>10} step {event.step:>7}  {cycle_status(event.kind, event.info)}")
        elif event.kind in ("checkpoint", "state"):
            detail = event.info.get("state", "") or f"{metrics.get('checkpoint_save_seconds', 0):.2f}s"
            self._progress.console.print(f"{event.kind:>10} step {event.step:>7}  {detail}")


def cycle_status(kind: str, info: dict) -> str:
    """One line for a continuous job's cycle or published event ("waiting for data: 40/100 new chunks")."""
    if kind == "published":
        return f"published network {info['network']}: {info['path']}"
    if info["phase"] == "waiting":
        return (f"waiting for data: {info['new_chunks']}/{info['needed']} new chunks "
                f"(window {min(info['chunks'], info['window_size'])}/{info['window_size']})")
    return (f"training network {info['network']} to step {info['end_step']} on {info['window_chunks']} chunks "
            f"({info['window_oldest']} .. {info['window_newest']})")
