"""Timing helpers shared by the benchmarks. Standard library only (no numpy, no TensorFlow), so a
worker that must never import TensorFlow can use them.

Convention: a measurement is a list of wall-clock seconds, one per timed repeat, each covering the
same workload of `items` items; warm-up runs happen before, outside the timed region. Rates are
reported as the median over repeats with the spread (min-max), never a best-of.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Run `fn` `warmup` times untimed, then `repeats` times timed. Returns (seconds per run, the
    result of the first warm-up run, or of the first timed run when warmup == 0)."""
    first = None
    for i in range(warmup):
        out = fn()
        if i == 0:
            first = out
    seconds = []
    for i in range(repeats):
        t = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t)
        if warmup == 0 and i == 0:
            first = out
    return seconds, first


def rates(seconds: list[float], items: float) -> dict[str, float]:
    """items/s: median, min and max over the repeats, plus the raw seconds."""
    per_s = sorted(items / s for s in seconds)
    return {"median": statistics.median(per_s), "min": per_s[0], "max": per_s[-1],
            "repeats": len(per_s), "seconds": [round(s, 6) for s in seconds]}


def seconds_summary(seconds: list[float]) -> dict[str, float]:
    """Seconds: median, min and max."""
    s = sorted(seconds)
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "repeats": len(s)}


def fmt_rate(r: dict[str, float] | None) -> tuple[str, str]:
    """('1,234', '1,100-1,300') for a `rates` dict; ('-', '') for None."""
    if not r:
        return "-", ""
    return _num(r["median"]), f"{_num(r['min'])}–{_num(r['max'])}"


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def fmt_seconds(s: dict[str, float]) -> str:
    """'1.23 s (1.20–1.31)'."""
    return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"


def machine() -> str:
    """One line describing the machine and Python."""
    load = ""
    try:
        load = ", load average %.2f/%.2f/%.2f" % os.getloadavg()
    except OSError:
        pass
    return (f"{platform.machine()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}{load}")


def emit(obj: Any, path: str | None = None) -> None:
    """Write `obj` as JSON to `path` (or print it on stdout)."""
    text = json.dumps(obj, indent=1, default=float)
    if path:
        with open(path, "w") as f:
            f.write(text)
    else:
        print(text)
        sys.stdout.flush()


def report(text: str, out: str | os.PathLike | None = None) -> None:
    """Print a benchmark's markdown `text`, and also write it to `out` when given."""
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")


def assert_no_tensorflow(where: str) -> None:
    """Fail loudly if TensorFlow got imported into a process that must stay free of it."""
    if "tensorflow" in sys.modules:
        raise RuntimeError(f"{where}: TensorFlow was imported into a process that must not import it")


def fastest_blas_threads(fn: Callable[[], Any]) -> tuple[Callable[[], Any], str]:
    """`fn`, run under the faster of the BLAS library's default thread count and 1 thread (threadpoolctl),
    and a note saying which. On a busy 2-core machine OpenBLAS's threads can make a small matmul (the mel
    projection) 30x slower than one thread; on a quiet one the default usually wins or ties. The timing
    runs fn once untimed, then once under each setting."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return fn, "BLAS threads: default (threadpoolctl missing)"
    default = max((d.get("num_threads", 1) for d in threadpool_info() if d.get("user_api") == "blas"), default=1)
    if default <= 1:
        return fn, ""
    fn()
    t = time.perf_counter()
    fn()
    t_default = time.perf_counter() - t
    with threadpool_limits(1, user_api="blas"):
        t = time.perf_counter()
        fn()
        t_one = time.perf_counter() - t
    if t_default <= t_one:
        return fn, f"BLAS threads {default} (the faster of 1 and the default at warm-up)"

    def one_thread():
        with threadpool_limits(1, user_api="blas"):
            return fn()

    return one_thread, "BLAS threads 1 (the faster of 1 and the default at warm-up)"
