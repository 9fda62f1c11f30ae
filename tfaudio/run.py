"""A training run's folder: what `tfaudio train` writes and `evaluate`, `predict` and `export` read.

    RUN/
      run.json              RunSpec: task, classes, features, window (what inference needs)
      config.json           the resolved experiment config
      checkpoints/best.keras, checkpoints/last.keras   (an SVM run: checkpoints/best.skops)
      history.csv           per-epoch metrics (keras CSVLogger)
      backup/               state for `--resume` (keras BackupAndRestore)
      logs/                 TensorBoard

`open_model(MODEL)` loads a model from any of its saved forms (`FORMS`: a run folder, a pretrained name, a
.keras file, an exported SavedModel, .tflite or .onnx file) as a `LoadedModel`: what inference runs, its
RunSpec, the metadata that travels with it and, when known, its experiment config.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

from tfaudio.config import FeatureConfig, from_dict, to_dict, write_json
from tfaudio.errors import TfaudioError

TASKS = ("activation", "single_label", "multi_label")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What inference needs to know about a trained model.

    task: "activation" (output `(batch, instruments, frames)`), "single_label" (softmax
    `(batch, classes)`) or "multi_label" (sigmoid `(batch, classes)`). `window`: samples at
    `features.sr` the model sees per example. `model_input`: "features" `(batch, frames, bins)`
    computed with `features`, or "audio" `(batch, samples)`.
    """

    task: str
    classes: tuple[str, ...]
    features: FeatureConfig
    window: int
    model_input: str = "features"
    threshold: float = 0.5
    thresholds: tuple[float, ...] = ()  # per class (multi-label), chosen on the validation split
    threshold_source: str = ""

    def __post_init__(self) -> None:
        if self.thresholds and len(self.thresholds) != len(self.classes):
            raise TfaudioError(f"{len(self.thresholds)} thresholds for {len(self.classes)} classes")
        if self.task not in TASKS:
            raise TfaudioError(f"task {self.task!r} is not one of {TASKS}")
        if self.model_input not in ("features", "audio"):
            raise TfaudioError(f"model_input {self.model_input!r} must be 'features' or 'audio'")
        if self.window <= 0 or not self.classes:
            raise TfaudioError("a run needs a positive window and at least one class")

    @property
    def sr(self) -> int:
        return self.features.sr

    def class_thresholds(self) -> tuple[float, ...]:
        """The decision threshold of each class: `thresholds` when chosen, else `threshold` for all."""
        return tuple(self.thresholds) if self.thresholds else (float(self.threshold),) * len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        feats = dict(data["features"])
        if "scale" not in feats and feats.get("kind") in ("cqt", "stft"):
            feats["scale"] = "linear"  # runs written before `scale` existed fed CQT/STFT magnitudes unscaled
        return from_dict(cls, {**data, "features": feats})


def write_spec(spec: RunSpec, run_dir: str | os.PathLike) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_json(spec, run_dir / "run.json")


#: The lock file of a run folder: `RUN/.tfaudio.lock`, holding the PID of the process that owns the run.
LOCK_NAME = ".tfaudio.lock"


class RunLockedError(TfaudioError):
    """Another process holds a run folder's lock (one line naming its PID)."""


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "train", create: bool = True) -> Iterator[Path]:
    """Own run folder `run_dir` for the ``with`` block: an exclusive `fcntl.flock` on `RUN/.tfaudio.lock`,
    taken before any check or write; a second `train`, `--resume` or `export` of the run fails at once with
    `RunLockedError` naming the PID that holds it. The kernel releases the lock when the process exits or
    crashes. `create`: make the folder (and missing parents) when missing; those that are still empty when
    the block ends are removed again, and so is the lock file. Yields the folder."""
    from tfaudio import outputs

    run_dir = Path(run_dir)
    if os.path.lexists(run_dir) and not run_dir.is_dir():
        raise outputs.OutputError(f"{run_dir}: exists and is not a folder")
    created = [p for p in (run_dir, *run_dir.parents) if not os.path.lexists(p)] if create else []
    lock = run_dir / LOCK_NAME
    fd = -1
    try:
        if created:
            outputs.output_dir(run_dir, "run folder")
        fd = _acquire(lock, run_dir, what)
        yield run_dir
    finally:
        if fd >= 0:
            try:
                lock.unlink()  # while still held: a process that opened the old file retries (see _acquire)
            except OSError:
                pass
            os.close(fd)
        for p in created:  # deepest first; only empty folders this call made
            try:
                p.rmdir()
            except OSError:
                break


def _acquire(lock: Path, run_dir: Path, what: str) -> int:
    """An open descriptor of `lock`, exclusively flocked and still the file at that path; else one line."""
    import fcntl

    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            from tfaudio import outputs

            raise outputs.OutputError(f"{run_dir}: cannot lock the run folder: {outputs.problem(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLockedError(f"{run_dir}: in use by another tfaudio process (PID {holder}); cannot {what} it "
                                 "now (try again when that process has finished)") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last owner removed after we opened it
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise RunLockedError(f"{run_dir}: cannot lock the run folder (its lock file keeps changing)")


def _holder(fd: int) -> str:
    """The PID written in a held lock file (its owner writes it just after locking: wait a moment for it)."""
    import time

    for _ in range(50):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.01)
    return "unknown"


def resolve_run(run: str | os.PathLike) -> Path:
    """A run folder: `run` itself, or the package's folder of a pretrained model name ("msdb", "irmas",
    "activations") when no local path has that name."""
    from tfaudio import pretrained

    return pretrained.path(str(run)) if pretrained.is_name(run) else Path(run)


def read_spec(run_dir: str | os.PathLike) -> RunSpec:
    run_dir = resolve_run(run_dir)
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise TfaudioError(f"{run_dir}: not a tfaudio run folder (no run.json)")
    try:
        return RunSpec.from_dict(json.loads(path.read_text()))
    except (KeyError, ValueError, TypeError) as e:
        raise TfaudioError(f"{path}: malformed run spec ({e})") from None


def checkpoint_path(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """`RUN/checkpoints/{best,last}.keras`; `which` may also be a path to a .keras file."""
    if which not in ("best", "last"):
        return Path(which)
    return Path(run_dir) / "checkpoints" / f"{which}.keras"


#: The SVM baseline's model file (skops): `RUN/checkpoints/best.skops`, its only checkpoint.
SVM_SUFFIX = ".skops"
#: What older tfaudio versions pickled the SVM to (refused when loaded, never unpickled).
OLD_SVM_SUFFIX = ".svm"


def svm_checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """`RUN/checkpoints/best.skops`: where `tfaudio train` saves an SVM run's model."""
    return Path(run_dir) / "checkpoints" / f"best{SVM_SUFFIX}"


def resolve_checkpoint(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """The file `open_run` loads for `which`: the .keras checkpoint (a missing best falls back to last);
    in an SVM run, whose one model serves as best and last, `checkpoints/best.skops` (or an old pickled
    `best.svm`, so that loading it says why it is refused). A path is returned as is. When nothing is
    there, the (missing) path the error names."""
    path = checkpoint_path(run_dir, which)
    if which not in ("best", "last") or path.is_file():
        return path
    if which == "best" and checkpoint_path(run_dir, "last").is_file():
        return checkpoint_path(run_dir, "last")
    svm = svm_checkpoint_path(run_dir)
    for candidate in (svm, svm.with_suffix(OLD_SVM_SUFFIX)):
        if candidate.is_file():
            return candidate
    return checkpoint_path(run_dir, "last") if which == "best" else path


def open_run(run_dir: str | os.PathLike, which: str = "best"):
    """(model, RunSpec) of a run folder: a `keras.Model`, or for an SVM run the `SVMBaseline` (which
    inference and evaluation take where a Keras model goes). Falls back to the last checkpoint when no
    best exists (see `resolve_checkpoint`)."""
    run_dir = resolve_run(run_dir)
    spec = read_spec(run_dir)
    path = resolve_checkpoint(run_dir, which)
    if not path.is_file():
        raise TfaudioError(f"{run_dir}: no checkpoint ({path.name}) in this run")
    if path.suffix in (SVM_SUFFIX, OLD_SVM_SUFFIX):
        from tfaudio.models.svm import SVMBaseline

        return SVMBaseline.load(path), spec
    return _load_keras(path), spec


# --------------------------------------------------------------------------------------------
# any saved form of a model, by one argument


#: The forms `open_model` takes: a run folder, a pretrained model's name, a .keras file, an exported
#: SavedModel folder, a .tflite or an .onnx file (the last three written by `tfaudio export`).
FORMS = ("run", "pretrained", "keras", "saved_model", "tflite", "onnx")
_FORM_NAMES = {"run": "run folder", "pretrained": "pretrained model", "keras": ".keras file",
               "saved_model": "exported SavedModel", "tflite": "TFLite model", "onnx": "ONNX model"}


def model_form(model: str | os.PathLike) -> str:
    """Which of `FORMS` the path or name `model` is; one-line `TfaudioError` when none.

    A folder with run.json is a run, one with saved_model.pb a SavedModel; files are told by their
    suffix (.keras, .tflite, .onnx); a name of `tfaudio.pretrained.NAMES` that is no local path is a
    pretrained model."""
    from tfaudio import pretrained

    if pretrained.is_name(model):
        return "pretrained"
    p = Path(model)
    if p.is_dir():
        if (p / "run.json").is_file():
            return "run"
        if (p / "saved_model.pb").is_file():
            return "saved_model"
    elif p.is_file() and p.suffix.lower() in (".keras", ".tflite", ".onnx"):
        return p.suffix.lower()[1:]
    names = ", ".join(pretrained.NAMES)
    if not p.exists():
        raise TfaudioError(f"{model}: not a tfaudio run folder or model file (no such file or folder); a model is a "
                           f"run folder, a .keras, .tflite or .onnx file, a SavedModel folder, or one of {names}")
    raise TfaudioError(f"{model}: not a tfaudio run folder (no run.json), exported SavedModel (no saved_model.pb), "
                       f".keras, .tflite or .onnx file, nor a pretrained model name ({names})")


#: Where the ported weights a model starts from come from, and their licence (`tfaudio.models.musicnn`).
BACKBONES = {name: {"name": name, "network": "musicnn (Pons & Serra 2019), musicnn 0.1.0 wheel",
                    "trained_on": "MagnaTagATune" if name.startswith("MTT") else "the Million Song Dataset",
                    "licence": "ISC, (c) Music Technology Group, Universitat Pompeu Fabra 2019 "
                               "(tfaudio/models/weights/LICENSE.musicnn)"}
             for name in ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")}


def backbone_of(model_config: dict[str, Any]) -> dict[str, Any] | None:
    """The ported backbone a model config starts from (`BACKBONES` entry), None for models trained from scratch."""
    name = model_config.get("name")
    if name == "musicnn_head":
        return BACKBONES[model_config.get("backbone", "MSD_musicnn")]
    if name in ("musicnn", "musicnn_vgg") and model_config.get("weights"):
        return BACKBONES[model_config["weights"]]
    return None


def training_summary(config: dict[str, Any] | None, run_dir: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """What a model was trained on, from its resolved experiment config (`config.json`): data format and
    root, classes, built-in corpus settings (SoundFonts, clips per class, seed), split names, augmentation
    preset, pipeline, epochs; for a pretrained model also its card and recipe. None without a config."""
    if not config:
        return None
    data = dict(config.get("data") or {})
    train = dict(config.get("train") or {})
    corpus = data.get("format") == "corpus" and not data.get("root")
    out: dict[str, Any] = {
        "pipeline": config.get("name"), "description": config.get("description"),
        "model": (config.get("model") or {}).get("name"),
        "data_format": data.get("format"), "data_root": data.get("root") or ("built-in corpus" if corpus else None),
        "splits": {"training": data.get("train_split"), "validation": data.get("val_split"),
                   "test": data.get("test_split")},
        "epochs": train.get("epochs"), "steps_per_epoch": train.get("steps_per_epoch"),
        "batch_size": train.get("batch_size"), "seed": train.get("seed"),
        "augment_preset": (config.get("augment") or {}).get("preset"),
        "backbone": backbone_of(config.get("model") or {}),
    }
    if data.get("format") == "corpus":
        out["corpus"] = {"classes": data.get("classes"), "per_class": data.get("per_class"),
                         "seed": data.get("corpus_seed"), "soundfonts": list(data.get("soundfonts") or ["timgm6mb"]),
                         "val_soundfonts": list(data.get("val_soundfonts") or []),
                         "test_soundfonts": list(data.get("test_soundfonts") or [])}
    if run_dir is not None:
        card = Path(run_dir) / "card.json"
        if card.is_file():
            try:
                c = json.loads(card.read_text(encoding="utf-8"))
            except ValueError:
                c = {}
            name = c.get("name") or Path(run_dir).name
            out["pretrained"] = {"name": name, "card": f"docs/pretrained/{name}.md", "recipe": c.get("recipe")}
    return out


def spec_from_metadata(meta: dict[str, Any], where: str | os.PathLike = "") -> RunSpec:
    """The RunSpec an export's metadata records (`run_spec`; older exports: its top-level keys)."""
    try:
        if "run_spec" in meta:
            return RunSpec.from_dict(meta["run_spec"])
        return RunSpec.from_dict({k: meta[k] for k in ("task", "classes", "features", "window", "model_input")}
                                 | {"threshold": meta.get("threshold", 0.5)})
    except (KeyError, ValueError, TypeError) as e:
        raise TfaudioError(f"{where}: malformed tfaudio metadata ({e})") from None


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model loaded by `open_model`, in any of its saved forms.

    model: what inference runs: a `keras.Model` (run, pretrained, .keras), the SVM baseline, or the
    runner of an export (`tfaudio.export.SavedModelRunner`, `TFLiteRunner`, `ONNXRunner`), which takes
    audio windows `(batch, window)` when its features are computed inside. spec: the RunSpec inference
    uses (for an export that computes its features inside, `model_input` is "audio": it takes audio).
    form: one of `FORMS`. metadata: what travels with the model (`tfaudio.export.metadata`). config:
    the resolved experiment config (dict), when known (evaluation of the run's own data needs it).
    """

    model: Any
    spec: RunSpec
    form: str
    path: Path
    metadata: dict[str, Any]
    config: dict[str, Any] | None = None
    run_dir: Path | None = None
    checkpoint: Path | None = None
    name: str = ""

    @property
    def description(self) -> str:
        """One line: which form was loaded, from where, and what it is."""
        what = f"{self.spec.task.replace('_', '-')}, {len(self.spec.classes)} classes, {self.spec.sr} Hz"
        extra = ""
        if self.form in ("run", "pretrained", "keras") and self.checkpoint is not None:
            extra = f" ({self.checkpoint})" if self.form != "keras" else ""
        q = self.metadata.get("quantize")
        if self.form == "tflite" and q and q != "none":
            what += f", {q} quantized"
        if self.metadata.get("front_end") == "outside":
            what += ", features computed by tfaudio"
        where = f"'{self.name}'" if self.form == "pretrained" else str(self.path)
        return f"{_FORM_NAMES[self.form]} {where}{extra}: {what}"

    def experiment(self):
        """The run's `ExperimentConfig`, or a `TfaudioError` saying that this model carries none."""
        from tfaudio.experiment import experiment_from_dict

        if not self.config:
            raise TfaudioError(f"{self.path}: carries no training config (exported without its run folder), so "
                               "its data is unknown: export it again from the run folder")
        return experiment_from_dict(self.config)

    def predictor(self, batch_windows: int | None = None):
        """A `tfaudio.inference.Predictor` of this model."""
        from tfaudio.inference import DEFAULT_BATCH_WINDOWS, predictor

        return predictor(self.model, self.spec, batch_windows or DEFAULT_BATCH_WINDOWS)

    def predict_file(self, path: str | os.PathLike, **kwargs: Any):
        """`tfaudio.inference.predict_file` with this model."""
        from tfaudio.inference import predict_file

        return predict_file(self.predictor(), None, path, **kwargs)

    def predict_audio(self, audio: Any, source: str | None = None):
        """`tfaudio.inference.predict_audio` with this model (mono audio at `spec.sr`)."""
        from tfaudio.inference import predict_audio

        return predict_audio(self.predictor(), None, audio, source=source)

    def stream(self, rate: int | None = None, channels: int = 1, **kwargs: Any):
        """A `tfaudio.inference.Stream` of this model."""
        from tfaudio.inference import Stream

        return Stream(self, rate=rate, channels=channels, **kwargs)


def _load_keras(path: Path) -> Any:
    """A .keras file as a `keras.Model` (safe mode), or one line saying why not."""
    import keras

    import tfaudio.features  # noqa: F401  (registers the feature layers)
    import tfaudio.models  # noqa: F401  (registers the model layers)

    try:
        return keras.models.load_model(path, safe_mode=True)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as e:  # damaged or foreign: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise TfaudioError(f"{path}: cannot load this checkpoint (is it a complete .keras file written by "
                           f"tfaudio?): {first}") from None


def _read_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise TfaudioError(f"{path}: malformed config ({e})") from None


def open_model(model: str | os.PathLike, which: str = "best", precision: str = "float32",
               trust: bool = False) -> LoadedModel:
    """Load a model from any of its forms (`FORMS`): a run folder (`which` checkpoint), a pretrained
    model's name, a .keras file (its embedded tfaudio metadata, else the run.json of the run folder it
    sits in), a SavedModel folder, .tflite or .onnx file written by `tfaudio export`.

    Predictions of all forms of one model agree (within 1e-5; 1e-4 for TFLite and ONNX, unquantized).
    `precision` ("float32", "auto" or "mixed_bfloat16", `tfaudio.precision.resolve`) is the policy a Keras
    form computes in: bfloat16 is several times faster on CPUs with AMX, within about 0.01 of float32.

    A SavedModel is a program: before it loads, `tfaudio.trust.check_saved_model` reads it as data and
    refuses, in one line naming it, any op tfaudio's exporter never writes (file, network, Python,
    process ops, ...). `trust=True` skips that check, for a model whose source you trust."""
    from tfaudio import export

    form = model_form(model)
    path = Path(model)
    if form in ("run", "pretrained"):
        run_dir = resolve_run(model)
        net, spec = open_run(run_dir, which)
        net = float32_model(net, precision)
        config = _read_config(run_dir)
        meta = export.metadata(spec, frames=_frames(net, spec, run_dir), config=config,
                               training=training_summary(config, run_dir), export_format=form)
        return LoadedModel(net, spec, form, run_dir, meta, config, run_dir, resolve_checkpoint(run_dir, which),
                           name=str(model) if form == "pretrained" else "")
    if form == "keras":
        meta = export.read_metadata(path, "keras")
        run_dir = None
        if meta is None:  # a checkpoint inside a run folder: RUN/checkpoints/NAME.keras
            run_dir = path.resolve().parent.parent
            if path.resolve().parent.name != "checkpoints" or not (run_dir / "run.json").is_file():
                raise TfaudioError(f"{path}: this .keras file carries no tfaudio metadata and is not in a run "
                                   "folder's checkpoints/ (export one with: tfaudio export RUN --format keras)")
            spec = read_spec(run_dir)
            config = _read_config(run_dir)
        else:
            spec = spec_from_metadata(meta, path)
            config = meta.get("config")
        net = float32_model(_load_keras(path), precision)
        frames = _frames(net, spec, path)  # a plain Keras model with a copied tfaudio.json fails here, naming the file
        if meta is None:
            meta = export.metadata(spec, frames=frames, config=config,
                                   training=training_summary(config, run_dir), export_format="keras")
        return LoadedModel(net, spec, form, path, meta, config, run_dir, path)
    runner, spec, meta = export.load_exported(path, form, trust=trust)
    return LoadedModel(runner, spec, form, path, meta, meta.get("config"))


def float32_model(model: Any, precision: str = "float32") -> Any:
    """`model` computing in float32 (or `precision`): a Keras model trained under mixed precision (its
    variables are float32 already) is cloned with that policy (`tfaudio.precision.with_policy`); anything
    else is returned as is. Every form `tfaudio export` writes computes in float32, and so does every form
    `open_model` loads by default, so that they give the same numbers (LiteRT and onnxruntime have no
    bfloat16 convolutions)."""
    if not hasattr(model, "layers") or not getattr(model, "runs_in_graph", True):
        return model
    from tfaudio.precision import resolve, with_policy

    return with_policy(model, resolve(precision))


def _frames(model: Any, spec: RunSpec, where: str | os.PathLike) -> int | None:
    """Frames per window of `model` for `spec` (None for clip models); a model that does not fit is one
    `TfaudioError` line naming `where`."""
    from tfaudio.inference import check_model

    try:
        return check_model(model, spec) or None
    except TfaudioError as e:
        raise TfaudioError(f"{where}: {e}") from None
