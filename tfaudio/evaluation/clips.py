"""Evaluation of a trained run: metrics (scikit-learn, keras.metrics) and a report folder.

    metrics = evaluate_run(model, spec, test_data)               # dict, JSON-able
    metrics, files = evaluate_and_report(model, spec, test_data, "report/", history_csv="RUN/history.csv")

Metrics per task:

* single_label — "accuracy", "per_class_accuracy" {class: recall of the class, null when it has no
  examples}, "confusion_matrix" (list of lists, rows = true class, columns = predicted class).
* multi_label (seed 003) — "f1_micro", "f1_macro" (scores >= threshold, default 0.5), "lrap"
  (``sklearn.metrics.label_ranking_average_precision_score``), "map" (mean over the classes present in
  the reference of ``average_precision_score``), with "per_class_f1" and "per_class_ap".
* activation (seed 001) — "bce" (mean binary cross-entropy over all instrument × frame cells,
  ``keras.metrics.BinaryCrossentropy``), "frame_f1" (F1 of the cells whose predicted activation is
  >= threshold against the reference cells >= threshold; 0.5 is -30 dB in a 60-dB range), with
  "frame_precision", "frame_recall", "frame_f1_per_class", and the seed's "noise_matrix_db" and
  "leakage_matrix_db" (see `noise_matrix_db` and `leakage_matrix_db` for the exact definitions).

Data (`data`): a `tf.data.Dataset` (batched or not) of dicts — the keys of `tfaudio.data.pipeline.mixtures`:
"features" or "audio" in, "activations" or "labels" out, optionally "playing" — or of (x, y) pairs;
a dict of arrays; an (x, y) pair of arrays; or any iterable of such elements. Audio examples longer
or shorter than the model's window (e.g. a rendered sequence of instruments played in turn, with its
reference activations) go through `tfaudio.inference`'s sliding windows and overlap-add.

Songs with per-instrument stems (data format "stems", `tfaudio.data.datasets.from_stems`): `evaluate_songs`
predicts each whole mix, takes the reference activations from its stems, and adds to the activation
metrics threshold-free ones (`threshold_free_metrics`: AUC-ROC, AP, frame LRAP) and segment-based F1
and error rate (`segment_metrics`, sed_eval); `evaluate_songs_and_report` also writes the report.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from tfaudio.errors import DatasetError
from tfaudio.spec import RunSpec
from tfaudio.evaluation.metrics import activation_metrics, classification_metrics, playing_per_frame
from tfaudio.evaluation.report import write_report
from tfaudio import inference
from tfaudio.data.datasets import encode_labels
from tfaudio.data.labels import activations
from tfaudio.io.audio import load

log = logging.getLogger(__name__)

__all__ = ["Collected", "collect_predictions", "clip_examples", "choose_thresholds", "compute_metrics",
           "evaluate_run", "evaluate_and_report",
           "write_report", "classification_metrics", "activation_metrics", "noise_matrix_db",
           "leakage_matrix_db", "playing_per_frame", "level_amplitude", "sequence_example",
           "threshold_free_metrics", "segment_metrics", "polyphonic_detection", "roll_events", "class_index", "Song",
           "song_reference",
           "collect_songs", "song_metrics", "evaluate_songs", "evaluate_songs_and_report", "songs_summary"]


def sequence_example(clips: Sequence[Any], instruments: Sequence[int], spec: RunSpec, range_db: float = 60.0,
                     ref: float = 1.0) -> dict[str, np.ndarray]:
    """Seed 001 §5.3's "Sequence": single-instrument `clips` (mono at `spec.sr`) played in turn, clip k
    by instrument `instruments[k]`.

    Returns {"audio": `(samples,)`, "activations": `(instruments, frames)` (`tfaudio.data.labels.activations`
    of the stems, `range_db` range re `ref`), "playing": `(frames,)` (the instrument of the clip holding
    each frame's centre)} — an element `evaluate_run` takes as is.
    """
    clips = [np.asarray(c, np.float32).reshape(-1) for c in clips]
    if not clips or len(clips) != len(instruments):
        raise DatasetError(None, "a sequence needs one instrument index per clip, and at least one clip")
    n = len(spec.classes)
    if any(not 0 <= int(i) < n for i in instruments):
        raise DatasetError(None, f"instrument indices must be in [0, {n})")
    bounds = np.cumsum([0] + [len(c) for c in clips])
    stems = np.zeros((n, int(bounds[-1])), np.float32)
    for c, i, a in zip(clips, instruments, bounds):
        stems[int(i), a:a + len(c)] = c
    f = spec.features
    acts = activations(stems, frame_length=f.n_fft, hop_length=f.hop_length, ref=ref, top_db=range_db).numpy()
    centres = np.arange(acts.shape[1]) * f.hop_length
    k = np.clip(np.searchsorted(bounds, centres, side="right") - 1, 0, len(clips) - 1)
    return {"audio": stems.sum(axis=0), "activations": acts, "playing": np.asarray(instruments, np.int64)[k]}


# --------------------------------------------------------------------------------------------
# collecting predictions


@dataclasses.dataclass(frozen=True, eq=False)
class Collected:
    """Predictions and references of a run on some data.

    activation: `predicted` / `reference` lists of `(instruments, frames_i)`, `playing` list of
    `(frames_i,)`. clip tasks: `predicted` `(n, classes)` scores, `reference` int labels `(n,)` or
    multi-hot `(n, classes)`.
    """

    spec: RunSpec
    predicted: Any
    reference: Any
    playing: Any = None
    n_windows: int = 0

    @property
    def n_examples(self) -> int:
        return len(self.predicted)

    def examples(self, n: int = 3) -> list[dict[str, Any]]:
        """Up to `n` activation examples for `write_report`: {"reference", "predicted", "title"}."""
        if self.spec.task != "activation":
            return []
        return [{"reference": r, "predicted": p, "title": f"example {i}"}
                for i, (r, p) in enumerate(zip(self.reference[:n], self.predicted[:n]))]


def _elements(data: Any) -> Iterator[Any]:
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        yield from data.as_numpy_iterator()
    elif isinstance(data, dict):
        yield data
    elif isinstance(data, tuple) and len(data) in (2, 3) and all(
            isinstance(a, (np.ndarray, tf.Tensor)) for a in data[:2]):
        yield data
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        for el in data:
            yield from _elements(el) if isinstance(el, tf.data.Dataset) else [el]
    else:
        raise DatasetError(None, f"cannot evaluate on {type(data).__name__}: give a tf.data.Dataset, a dict of "
                                 f"arrays, an (x, y) pair or an iterable of them")


def _unpack(el: Any, spec: RunSpec, input_kind: str) -> tuple[Any, Any, Any, Any, bool | None]:
    """(x, y, labels, playing, x is features (None: unknown)) of one element."""
    if isinstance(el, dict):
        keys = ("features", "audio") if input_kind == "features" else ("audio",)
        key = next((k for k in keys if k in el), None)
        if key is None:
            raise DatasetError(None, f"evaluation data has no {' or '.join(repr(k) for k in keys)} "
                                     f"(keys: {sorted(el)})")
        ykey = "activations" if spec.task == "activation" else ("labels" if "labels" in el else "label")
        if ykey not in el:
            raise DatasetError(None, f"evaluation data has no {ykey!r} (keys: {sorted(el)})")
        return (el[key], el[ykey], el.get("labels") if spec.task == "activation" else None, el.get("playing"),
                key == "features")
    if isinstance(el, (tuple, list)) and len(el) >= 2:
        return el[0], el[1], None, None, None
    raise DatasetError(None, f"evaluation elements must be dicts or (x, y) pairs, got {type(el).__name__}")


def collect_predictions(model: Any, spec: RunSpec, data: Any, max_examples: int | None = None,
                        batch_windows: int = 64, aggregate: str = "mean") -> Collected:
    """Run the model over `data` (see the module doc); returns predictions and references.

    Clip models on audio longer than a window: window scores (50% hop) are aggregated into the clip's
    scores by their `aggregate` ("mean", the default, or "max") over the windows.
    """
    if aggregate not in ("mean", "max"):
        raise DatasetError(None, f"unknown aggregation {aggregate!r}; use 'mean' or 'max'")

    pred = inference.predictor(model, spec, batch_windows)
    input_kind = inference.input_kind(spec)
    n_classes = len(spec.classes)
    preds: list[Any] = []
    refs: list[Any] = []
    plays: list[Any] = []
    count = 0
    windows = 0
    for el in _elements(data):
        x, y, labels, playing, is_features = _unpack(el, spec, input_kind)
        x = np.asarray(x)
        y = np.asarray(y)
        if is_features is None:  # an (x, y) pair: features end in the feature bins (and are not a window)
            is_features = (input_kind == "features" and x.ndim >= 2 and x.shape[-1] == spec.features.n_features
                           and not (x.ndim == 2 and x.shape[-1] == spec.window))
        batched = x.ndim == (3 if is_features else 2)
        if not batched:
            x, y = x[None], y[None]
            labels = None if labels is None else np.asarray(labels)[None]
            playing = None if playing is None else np.asarray(playing)[None]
        if x.ndim != (3 if is_features else 2):
            raise DatasetError(None, f"evaluation input of shape {x.shape} is neither audio (batch, samples) "
                                     f"nor features (batch, frames, {spec.features.n_features})")
        if is_features:
            want = tuple(model.inputs[0].shape[1:])
            if any(w is not None and w != s for w, s in zip(want, x.shape[1:])):
                raise DatasetError(None, f"evaluation features have shape {x.shape[1:]}, the model takes {want}; "
                                         f"give audio to evaluate longer examples")
            out = np.concatenate([np.asarray(model(x[i:i + 256], training=False), np.float32)
                                  for i in range(0, len(x), 256)])
            windows += len(x)
        else:
            res = pred.waveform(x.astype(np.float32))
            if spec.task == "activation":
                out = res["activations"]
            else:
                out = res["scores"] if aggregate == "mean" else res["window_scores"].max(axis=1)
                windows += int(np.prod(res["window_scores"].shape[:2]))
        for i in range(len(x)):
            if max_examples is not None and count >= max_examples:
                break
            if spec.task == "activation":
                ref = y[i].astype(np.float32)
                if ref.shape != out[i].shape:
                    raise DatasetError(None, f"reference activations {ref.shape} do not match the prediction "
                                             f"{out[i].shape} (instruments, frames)")
                preds.append(out[i])
                refs.append(ref)
                plays.append(playing_per_frame(ref, None if labels is None else labels[i],
                                               None if playing is None else playing[i]))
            else:
                preds.append(out[i])
                refs.append(_clip_reference(y[i], spec, n_classes))
            count += 1
        if max_examples is not None and count >= max_examples:
            break
    if not preds:
        raise DatasetError(None, "the evaluation data is empty")
    if spec.task == "activation":
        return Collected(spec, preds, refs, plays)
    return Collected(spec, np.stack(preds), np.stack(refs), n_windows=windows)


def clip_examples(records: Sequence[Any], spec: RunSpec) -> Iterator[dict[str, Any]]:
    """Whole files as evaluation examples of a clip run: {"audio": `(samples,)` at the run's rate,
    "labels": multi-hot `(classes,)` (multi-label) or the class index (single-label)}, read with
    `tfaudio.io.audio.load`. A label outside the run's classes is a DatasetError naming the file."""
    mode = "multi_hot" if spec.task == "multi_label" else "int"
    for r in records:
        y, _ = load(r.path, sr=spec.sr)
        yield {"audio": y, "labels": encode_labels([r], spec.classes, mode)[0]}


def _clip_reference(y: np.ndarray, spec: RunSpec, n: int) -> np.ndarray:
    y = np.asarray(y)
    if spec.task == "single_label":
        if y.ndim == 0:
            k = int(y)
        elif y.shape == (n,) and np.sum(y > 0.5) == 1:
            k = int(np.argmax(y))
        else:
            raise DatasetError(None, f"single-label reference {y.tolist()} is neither a class index nor one-hot")
        if not 0 <= k < n:
            raise DatasetError(None, f"class index {k} is out of range for {n} classes")
        return np.int64(k)
    if y.ndim == 0:
        return np.eye(n, dtype=np.float32)[int(y)]
    if y.shape != (n,):
        raise DatasetError(None, f"multi-label reference of shape {y.shape} is not multi-hot ({n},)")
    return y.astype(np.float32)


def compute_metrics(collected: Collected, threshold: float | None = None, range_db: float = 60.0) -> dict[str, Any]:
    """The task's metrics of collected predictions, plus "task", "classes", "n_examples" (and for
    activations "sr" and "hop_length", for plots)."""
    spec = collected.spec
    head: dict[str, Any] = {"task": spec.task, "classes": list(spec.classes), "n_examples": collected.n_examples}
    if spec.task == "multi_label":
        t = spec.class_thresholds() if threshold is None else float(threshold)
        head["threshold_source"] = ("--threshold" if threshold is not None else
                                    spec.threshold_source or f"default {spec.threshold:g} for every class")
    else:
        t = spec.threshold if threshold is None else float(threshold)
    if collected.n_windows:
        head["n_windows"] = collected.n_windows
    if spec.task == "activation":
        m = activation_metrics(collected.predicted, collected.reference, collected.playing, spec.classes, t,
                               range_db)
        head.update(sr=spec.sr, hop_length=spec.features.hop_length)
    else:
        m = classification_metrics(spec.task, collected.reference, collected.predicted, spec.classes, t)
    return {**head, **m}


def evaluate_run(model: Any, spec: RunSpec, data: Any, threshold: float | None = None, range_db: float = 60.0,
                 max_examples: int | None = None, aggregate: str = "mean") -> dict[str, Any]:
    """Evaluate `model` (fitting `spec`) on `data` -> JSON-able metrics (see the module doc)."""
    return compute_metrics(collect_predictions(model, spec, data, max_examples, aggregate=aggregate), threshold,
                           range_db)


def evaluate_and_report(model: Any, spec: RunSpec, data: Any, out_dir: str | os.PathLike,
                        history_csv: str | os.PathLike | None = None, n_examples: int = 3,
                        threshold: float | None = None, range_db: float = 60.0,
                        max_examples: int | None = None, aggregate: str = "mean",
                        provenance: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """`evaluate_run` + `write_report` (with `n_examples` activation examples): (metrics, files).
    `provenance` (what was evaluated on what: model, checkpoint, data, split, ...) goes into metrics.json."""
    collected = collect_predictions(model, spec, data, max_examples, aggregate=aggregate)
    metrics = compute_metrics(collected, threshold, range_db)
    if spec.task != "activation":
        metrics["aggregation"] = f"{aggregate} of window probabilities (windows of {spec.window} samples, 50% hop)"
    if provenance:
        metrics = {**metrics, **provenance}
    files = write_report(metrics, out_dir, history_csv=history_csv, examples=collected.examples(n_examples))
    return metrics, files
