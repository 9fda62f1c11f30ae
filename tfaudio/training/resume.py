"""Resuming a run: its own config.json, the keys a resume may change, and the record of what changed."""
from __future__ import annotations

import logging

import json
import os
from pathlib import Path
from typing import Any, Sequence

from tfaudio.config import write_json
from tfaudio.errors import ConfigError, TfaudioError
from tfaudio.experiment import ExperimentConfig
import datetime

log = logging.getLogger(__name__)


#: Config keys a `--resume` may change: the schedule and the callbacks (each change is logged and recorded
#: in `RUN/resumes.json`). Any other change (model, data, features, labels, mixing, ...) is refused.
RESUMABLE_KEYS = ("train.epochs", "train.steps_per_epoch", "train.validation_steps", "train.learning_rate",
                  "train.lr_factor", "train.lr_patience", "train.min_lr", "train.monitor", "train.monitor_mode",
                  "train.verbose", "train.strategy", "description")


def run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The resolved experiment config a run was trained with (`RUN/config.json`), or one line saying why not."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise TfaudioError(f"{run_dir}: nothing to resume (no run.json)")
    path = run_dir / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TfaudioError(f"{path}: missing; a run is resumed only with the config it was trained with") from None
    except (OSError, ValueError) as e:
        raise TfaudioError(f"{path}: unreadable config ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise TfaudioError(f"{path}: malformed config (not a mapping)")
    return data


def resume_config(run_dir: str | os.PathLike, overrides: Sequence[str] = (),
                  experiment: str | None = None) -> ExperimentConfig:
    """The config `train --resume` continues with: the run's own `config.json` with the `--set` `overrides`
    applied (what the pipeline YAML says now does not matter). `experiment`: the experiment name the user
    gave, refused when the run was trained from another one."""
    from tfaudio.experiment import apply_overrides, experiment_from_dict  # lazy: this module stays free of TensorFlow (light to import)

    saved = run_config(run_dir)
    if experiment is not None and saved.get("name") != experiment:
        raise ConfigError(f"{run_dir}: this run was trained from experiment {saved.get('name')!r}, not "
                          f"{experiment!r}; --resume continues a run with its own config.json")
    try:
        return experiment_from_dict(apply_overrides(saved, overrides))
    except ConfigError as e:
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: {e}") from None


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def resume_changes(run_dir: str | os.PathLike, cfg: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (saved, new)} of what `cfg` changes in the run's own config; a `ConfigError` listing the
    keys when any of them is outside `RESUMABLE_KEYS` (a resume never changes what the run is)."""
    from tfaudio.experiment import experiment_from_dict  # lazy: this module stays free of TensorFlow (light to import)

    try:
        saved = _flat(experiment_from_dict(run_config(run_dir)).to_dict())
    except ConfigError as e:
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: {e}") from None
    new = _flat(cfg.to_dict())
    changes = {k: (saved.get(k), new.get(k)) for k in sorted(set(saved) | set(new)) if saved.get(k) != new.get(k)}
    refused = [k for k in changes if k not in RESUMABLE_KEYS]
    if refused:
        raise ConfigError(f"{run_dir}: --resume continues the run as it was trained, and {', '.join(refused)} "
                          f"would change it (a resume may change only {', '.join(RESUMABLE_KEYS)}); train a new "
                          "run into another --out to change the rest")
    return changes


def _record_resume(run_dir: Path, cfg: ExperimentConfig, changes: dict[str, tuple[Any, Any]]) -> None:
    """Log each change of a resume and record it: `config.json` takes the new values, `resumes.json` the list."""
    for key, (old, new) in changes.items():
        log.info("%s: resuming with %s=%r (was %r)", run_dir, key, new, old)
    path = run_dir / "resumes.json"
    try:
        history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except (OSError, ValueError):
        history = []
    history = history if isinstance(history, list) else []
    history.append({"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "changes": {k: {"was": old, "now": new} for k, (old, new) in changes.items()}})
    write_json(history, path)
    write_json(cfg.to_dict(), run_dir / "config.json")
