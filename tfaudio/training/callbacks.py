"""Training's writers as Keras callbacks: checkpoints, history.csv and backup state, all written atomically."""
from __future__ import annotations

import logging

import functools
import json
import math
import os
from pathlib import Path

from tfaudio.config import write_json
from tfaudio.errors import ConfigError
from tfaudio.experiment import monitor_mode
from tfaudio.io import outputs
import io

log = logging.getLogger(__name__)


def atomic_checkpoints(run_dir: str | os.PathLike, monitor: str, write: bool = True, mode: str = "auto"):
    """A `keras.callbacks.Callback` (class `AtomicCheckpoints`) that saves `checkpoints/last.keras` every
    epoch and `checkpoints/best.keras` when `monitor` improves, each to a temporary name and then renamed.

    `mode` is "min", "max" or "auto" (inferred from the monitor's name, see `tfaudio.experiment.monitor_mode`).
    The best value, the monitor and the resolved mode survive `--resume` in `checkpoints/state.json`; a resumed
    run whose monitor or mode changed starts its best afresh (+inf for "min", -inf for "max"). `write=False`
    (a non-chief worker) writes nothing. A monitor missing from an epoch's logs is an error, never a
    silent fall-back to another metric.
    """
    return _atomic_checkpoints_class()(run_dir, monitor, write=write, mode=mode)


@functools.lru_cache(maxsize=None)
def _atomic_checkpoints_class():
    """The `AtomicCheckpoints` class, defined once and only when Keras is first needed."""
    import keras  # lazy: this module stays free of TensorFlow (light to import)

    class AtomicCheckpoints(keras.callbacks.Callback):
        def __init__(self, run_dir: str | os.PathLike, monitor: str, write: bool = True, mode: str = "auto"):
            super().__init__()
            self.dir = Path(run_dir) / "checkpoints"
            self.state_path = self.dir / "state.json"
            self.monitor = monitor
            self.mode = monitor_mode(monitor, mode)
            self.write = write
            self.best = math.inf if self.mode == "min" else -math.inf
            state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
            best = state.get("best")
            # state.json written before modes existed has no "mode": it was always "min"
            if (state.get("monitor") == monitor and state.get("mode", "min") == self.mode and best is not None
                    and math.isfinite(best)):
                self.best = float(best)
            elif state.get("monitor") is not None and (state.get("monitor"), state.get("mode", "min")) != \
                    (monitor, self.mode):
                log.warning("%s: its best checkpoint was chosen by %s (%s); now %s (%s): best.keras will be "
                            "replaced by the next epoch", self.state_path, state.get("monitor"),
                            state.get("mode", "min"), monitor, self.mode)

        def improves(self, value: float) -> bool:
            """Whether `value` is better than the best so far."""
            return value < self.best if self.mode == "min" else value > self.best

        def _save(self, name: str) -> None:
            outputs.clean_stale(self.dir / name)  # temporary files of a killed run
            outputs.atomic_write(self.dir / name, self.model.save)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if not self.write:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            self._save("last.keras")
            if self.monitor not in logs:
                raise ConfigError(f"train.monitor {self.monitor!r} is not among this epoch's logs "
                                  f"{sorted(logs)}")
            value = float(logs[self.monitor])
            if self.improves(value):
                self.best = value
                self._save("best.keras")
                log.info("epoch %d: %s improved to %.5f, saved best.keras", epoch + 1, self.monitor, value)
            write_json({"best": self.best, "epoch": epoch + 1, "monitor": self.monitor, "mode": self.mode},
                       self.state_path)

    return AtomicCheckpoints


def _trim_history(path: Path, start: int) -> None:
    """Keep the rows of `history.csv` for epochs before `start`, where a resumed run goes on."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) < start]

    if keep != lines:  # a resume that changes nothing rewrites nothing
        outputs.write_text(path, "".join(keep))


def atomic_csv_logger(path: Path, append: bool):
    """keras.callbacks.CSVLogger whose file is rewritten whole through `tfaudio.io.outputs.atomic_write` at
    every epoch (the same rows and format; Keras appends in place, so a kill could leave half a row)."""
    import keras  # lazy: this module stays free of TensorFlow (light to import)


    class AtomicCSVLogger(keras.callbacks.CSVLogger):
        def on_train_begin(self, logs=None):
            file = Path(self.filename)
            text = file.read_text() if self.append and file.is_file() else ""
            self.append_header = not text.split("\n", 1)[0]
            self.csv_file = io.StringIO(text)
            self.csv_file.seek(0, io.SEEK_END)
            self.writer = None
            self.keys = None

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            outputs.write_text(self.filename, self.csv_file.getvalue())

        def on_train_end(self, logs=None):
            self.writer = None

    return AtomicCSVLogger(str(path), append=append)


def atomic_backup(backup_dir: Path):
    """keras.callbacks.BackupAndRestore whose files are written to a temporary name and renamed, so a
    run killed while it saves still has an intact backup to `--resume` from (Keras writes in place).
    Both files go through `tfaudio.io.outputs.atomic_write`."""
    import keras  # lazy: this module stays free of TensorFlow (light to import)


    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            outputs.clean_stale(self._weights_path)  # temporary files of a killed run
            outputs.atomic_write(self._weights_path, lambda tmp: self.model.save_weights(tmp, overwrite=True))
            meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
            outputs.write_text(self._training_metadata_path, json.dumps(meta))

    return AtomicBackupAndRestore(str(backup_dir))
