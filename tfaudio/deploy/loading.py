"""Opening a model from any saved form (`open_model` -> `LoadedModel`): a run folder, a pretrained name, a
.keras file, a SavedModel, .tflite or .onnx. Never imports a writer.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from tfaudio.errors import TfaudioError
from tfaudio.models.musicnn import backbone_of
from tfaudio.run_folder import OLD_SVM_SUFFIX, SVM_SUFFIX, read_spec, resolve_checkpoint, resolve_run
from tfaudio.spec import RunSpec, spec_from_metadata
from tfaudio import pretrained
from tfaudio.deploy import metadata, runners
from tfaudio.experiment import experiment_from_dict
from tfaudio.inference import DEFAULT_BATCH_WINDOWS, predictor
from tfaudio.inference import Stream
from tfaudio.inference import check_model
from tfaudio.inference import predict_audio
from tfaudio.inference import predict_file
from tfaudio.models.precision import resolve, with_policy
from tfaudio.models.svm import SVMBaseline


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


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model loaded by `open_model`, in any of its saved forms.

    model: what inference runs: a `keras.Model` (run, pretrained, .keras), the SVM baseline, or the
    runner of an export (`tfaudio.deploy.runners.SavedModelRunner`, `TFLiteRunner`, `ONNXRunner`), which takes
    audio windows `(batch, window)` when its features are computed inside. spec: the RunSpec inference
    uses (for an export that computes its features inside, `model_input` is "audio": it takes audio).
    form: one of `FORMS`. metadata: what travels with the model (`tfaudio.deploy.metadata.metadata`). config:
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
        if not self.config:
            raise TfaudioError(f"{self.path}: carries no training config (exported without its run folder), so "
                               "its data is unknown: export it again from the run folder")
        return experiment_from_dict(self.config)

    def predictor(self, batch_windows: int | None = None):
        """A `tfaudio.inference.Predictor` of this model."""
        return predictor(self.model, self.spec, batch_windows or DEFAULT_BATCH_WINDOWS)

    def predict_file(self, path: str | os.PathLike, **kwargs: Any):
        """`tfaudio.inference.predict_file` with this model."""
        return predict_file(self.predictor(), None, path, **kwargs)

    def predict_audio(self, audio: Any, source: str | None = None):
        """`tfaudio.inference.predict_audio` with this model (mono audio at `spec.sr`)."""
        return predict_audio(self.predictor(), None, audio, source=source)

    def stream(self, rate: int | None = None, channels: int = 1, **kwargs: Any):
        """A `tfaudio.inference.Stream` of this model."""
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
    `precision` ("float32", "auto" or "mixed_bfloat16", `tfaudio.models.precision.resolve`) is the policy a Keras
    form computes in: bfloat16 is several times faster on CPUs with AMX, within about 0.01 of float32.

    A SavedModel is a program: before it loads, `tfaudio.deploy.trust.check_saved_model` reads it as data and
    refuses, in one line naming it, any op tfaudio's exporter never writes (file, network, Python,
    process ops, ...). `trust=True` skips that check, for a model whose source you trust."""
    form = model_form(model)
    path = Path(model)
    if form in ("run", "pretrained"):
        run_dir = resolve_run(model)
        net, spec = open_run(run_dir, which)
        net = float32_model(net, precision)
        config = _read_config(run_dir)
        meta = metadata.metadata(spec, frames=_frames(net, spec, run_dir), config=config,
                               training=training_summary(config, run_dir), export_format=form)
        return LoadedModel(net, spec, form, run_dir, meta, config, run_dir, resolve_checkpoint(run_dir, which),
                           name=str(model) if form == "pretrained" else "")
    if form == "keras":
        meta = metadata.read_metadata(path, "keras")
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
            meta = metadata.metadata(spec, frames=frames, config=config,
                                   training=training_summary(config, run_dir), export_format="keras")
        return LoadedModel(net, spec, form, path, meta, config, run_dir, path)
    runner, spec, meta = runners.load_exported(path, form, trust=trust)
    return LoadedModel(runner, spec, form, path, meta, meta.get("config"))


def float32_model(model: Any, precision: str = "float32") -> Any:
    """`model` computing in float32 (or `precision`): a Keras model trained under mixed precision (its
    variables are float32 already) is cloned with that policy (`tfaudio.models.precision.with_policy`); anything
    else is returned as is. Every form `tfaudio export` writes computes in float32, and so does every form
    `open_model` loads by default, so that they give the same numbers (LiteRT and onnxruntime have no
    bfloat16 convolutions)."""
    if not hasattr(model, "layers") or not getattr(model, "runs_in_graph", True):
        return model

    return with_policy(model, resolve(precision))


def _frames(model: Any, spec: RunSpec, where: str | os.PathLike) -> int | None:
    """Frames per window of `model` for `spec` (None for clip models); a model that does not fit is one
    `TfaudioError` line naming `where`."""
    try:
        return check_model(model, spec) or None
    except TfaudioError as e:
        raise TfaudioError(f"{where}: {e}") from None
