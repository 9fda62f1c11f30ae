"""The results table of a search: one row a trial, sorted by the objective, as CSV and markdown."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: columns every table has, before the hyperparameters
LEADING = ("rank", "trial", "status")
#: columns after the hyperparameters
TRAILING = ("best_epoch", "tuner", "seconds")


def rows_from_trials(trials: Iterable[Any], objective: str, direction: str,
                     records: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Table rows from KerasTuner `Trial`s, best first; trials without a score (failed, invalid,
    running) come last, in trial order. `records`: `tuning.search` trial records by trial id
    (which tuner ran it, how long it took)."""
    records = records or {}
    rows = []
    for t in trials:
        score = t.score
        if score is None and t.metrics.exists(objective):
            score = t.metrics.get_best_value(objective)
        rec = records.get(t.trial_id, {})
        runs = rec.get("runs", [])
        done = [r for r in runs if r.get("outcome") == "completed"]
        last = done[-1] if done else (runs[-1] if runs else {})
        hps = {k: v for k, v in t.hyperparameters.values.items() if not k.startswith("tuner/")}
        rows.append({"trial": t.trial_id, "status": str(t.status), objective: score, **hps,
                     "best_epoch": None if t.best_step is None else int(t.best_step) + 1,
                     "tuner": last.get("tuner"), "seconds": last.get("seconds")})

    def scored(r: dict[str, Any]) -> bool:
        s = r[objective]
        return s is not None and not (isinstance(s, float) and math.isnan(s)) and r["status"] == "COMPLETED"

    rows.sort(key=lambda r: (0, r[objective] if direction == "min" else -r[objective], r["trial"]) if scored(r)
              else (1, 0.0, r["trial"]))
    for i, r in enumerate(rows, start=1):
        r["rank"] = i if scored(r) else None
    return rows


def columns(rows: Sequence[Mapping[str, Any]], objective: str) -> list[str]:
    """Leading columns, the objective, every hyperparameter (first-seen order), trailing columns."""
    fixed = set(LEADING) | set(TRAILING) | {objective}
    hps: list[str] = []
    for r in rows:
        hps += [k for k in r if k not in fixed and k not in hps]
    return [*LEADING, objective, *hps, *TRAILING]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def to_csv(rows: Sequence[Mapping[str, Any]], objective: str) -> str:
    cols = columns(rows, objective)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def to_markdown(rows: Sequence[Mapping[str, Any]], objective: str, title: str = "") -> str:
    cols = columns(rows, objective)
    numeric = {c for c in cols if any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
                                      for r in rows)}
    lines = [f"# {title}", ""] if title else []
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---:" if c in numeric else "---" for c in cols) + "|")
    for r in rows:
        cells = [_cell(r.get(c)).replace("|", "\\|") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: Sequence[Mapping[str, Any]], objective: str, out_dir: str | os.PathLike,
                 title: str = "") -> tuple[Path, Path]:
    """`out_dir/results.csv` and `out_dir/results.md` (each through `tfaudio.io.outputs.atomic_write`)."""
    from tfaudio.io import outputs

    out = outputs.output_dir(out_dir, "tuning folder")
    paths = []
    for name, text in (("results.csv", to_csv(rows, objective)), ("results.md", to_markdown(rows, objective, title))):
        paths.append(outputs.write_text(out / name, text))
    return paths[0], paths[1]
