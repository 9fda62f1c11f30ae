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
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from tfaudio.errors import DatasetError
from tfaudio.spec import RunSpec

log = logging.getLogger(__name__)

__all__ = ["Collected", "collect_predictions", "clip_examples", "choose_thresholds", "compute_metrics",
           "evaluate_run", "evaluate_and_report",
           "write_report", "classification_metrics", "activation_metrics", "noise_matrix_db",
           "leakage_matrix_db", "playing_per_frame", "level_amplitude", "sequence_example",
           "threshold_free_metrics", "segment_metrics", "polyphonic_detection", "roll_events", "class_index", "Song",
           "song_reference",
           "collect_songs", "song_metrics", "evaluate_songs", "evaluate_songs_and_report", "songs_summary"]


# --------------------------------------------------------------------------------------------
# seed 001 §5.4: noise and leakage


def level_amplitude(a: Any, range_db: float = 60.0) -> np.ndarray:
    """Activation in [0, 1] (``range_db`` dB mapped linearly, 1 = 0 dB) -> linear amplitude
    ``10 ** (range_db · (a - 1) / 20)``; 0 (at or below -range_db) -> 0."""
    a = np.clip(np.asarray(a, np.float64), 0.0, 1.0)
    return np.where(a > 0, 10.0 ** (range_db * (a - 1.0) / 20.0), 0.0)


def _db(x: np.ndarray, range_db: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 20.0 * np.log10(x)
    return np.clip(np.where(np.isnan(x), np.nan, out), -range_db, 0.0)


def _segments(playing: np.ndarray, n: int) -> list[np.ndarray]:
    return [np.flatnonzero(playing == i) for i in range(n)]


def noise_matrix_db(predicted: Any, reference: Any, playing: Any, range_db: float = 60.0) -> np.ndarray:
    """Seed 001 §5.4.1 noise matrix `(instruments, instruments)` in dB, in [-range_db, 0].

    Seed: "how much is an instrument being detected when it should not be. This is evaluated by
    averaging the absolute deviations of the predicted activation functions from the reference
    activation functions of each instrument over the 5 second window, even if they are not active
    (the envelope is zero in this case) ... the values were cut below -60 dB".

    Here: ``noise[i, j] = clip(20 log10(mean_{t in S_i} |A(p_j(t)) - A(r_j(t))|), -range_db, 0)`` where
    `S_i` are the frames in which instrument `i` plays alone (`playing == i`), `p`/`r` the predicted /
    reference activations `(instruments, frames)` and `A` = `level_amplitude` (the activation as a
    linear amplitude, 0 dB = 1). Row = the instrument playing, column = the predicted instrument; the
    diagonal is the error of the playing instrument's own envelope, off-diagonal cells (where the
    reference is silent) the level of the false detections. Rows of instruments that never play
    alone are NaN.
    """
    p, r = level_amplitude(predicted, range_db), level_amplitude(reference, range_db)
    playing = np.asarray(playing)
    n = p.shape[0]
    out = np.full((n, n), np.nan)
    for i, frames in enumerate(_segments(playing, n)):
        if len(frames):
            out[i] = _db(np.mean(np.abs(p[:, frames] - r[:, frames]), axis=1), range_db)
    return out


def leakage_matrix_db(predicted: Any, reference: Any, playing: Any, range_db: float = 60.0) -> np.ndarray:
    """Seed 001 §5.4.2 leakage matrix `(instruments, instruments)` in dB, in [-range_db, 0], NaN diagonal.

    Seed: "how much of the activation values of the currently playing instrument is being detected in
    another instrument. This means that we compare the predicted activation value of each instrument
    with the one currently active. Then, the difference derived from this comparison is subtracted
    from our defined dynamic range of 60 dB ... for the leakage it does not make sense to compare the
    labeled and predicted values of the same instrument, which is why there are no main diagonal
    values" (-60 dB: no leakage).

    Here: ``leakage[i, j] = clip(20 log10(mean_{t in S_i} A(p_j(t)) / mean_{t in S_i} A(r_i(t))),
    -range_db, 0)`` for j != i: the level of instrument j's predicted envelope relative to the
    reference level of the playing instrument i over i's solo frames `S_i` (the level difference d,
    shown as -d; "subtracted from the 60 dB range" = the clipping at -range_db). Row = the instrument
    playing, column = the instrument it leaks into. (The seed's figures put the playing instrument in
    the columns; here both matrices use rows.) NaN where `i` never plays alone or is silent throughout.
    """
    p, r = level_amplitude(predicted, range_db), level_amplitude(reference, range_db)
    playing = np.asarray(playing)
    n = p.shape[0]
    out = np.full((n, n), np.nan)
    for i, frames in enumerate(_segments(playing, n)):
        if not len(frames):
            continue
        level = np.mean(r[i, frames])
        if level <= 0:
            continue
        with np.errstate(divide="ignore"):
            out[i] = _db(np.mean(p[:, frames], axis=1) / level, range_db)
        out[i, i] = np.nan
    return out


def playing_per_frame(reference: Any, labels: Any = None, playing: Any = None) -> np.ndarray:
    """Which instrument plays alone in each frame of `reference` `(instruments, frames)`: int `(frames,)`,
    -1 where none or several do.

    `playing` (an index, or one per frame) wins; else `labels` (multi-hot `(instruments,)`) with exactly
    one instrument marks every frame of the example as that instrument's (a single-instrument mix: its
    quiet frames count too); else per frame, the only instrument whose reference activation is > 0.
    """
    ref = np.asarray(reference)
    t = ref.shape[-1]
    if playing is not None:
        pl = np.asarray(playing).astype(np.int64)
        return np.full(t, int(pl)) if pl.ndim == 0 else pl.reshape(t)
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        if lab.size == ref.shape[0] and np.sum(lab > 0.5) == 1:
            return np.full(t, int(np.argmax(lab)))
    on = ref > 0
    one = on.sum(axis=0) == 1
    return np.where(one, np.argmax(on, axis=0), -1).astype(np.int64)


def sequence_example(clips: Sequence[Any], instruments: Sequence[int], spec: RunSpec, range_db: float = 60.0,
                     ref: float = 1.0) -> dict[str, np.ndarray]:
    """Seed 001 §5.3's "Sequence": single-instrument `clips` (mono at `spec.sr`) played in turn, clip k
    by instrument `instruments[k]`.

    Returns {"audio": `(samples,)`, "activations": `(instruments, frames)` (`tfaudio.data.labels.activations`
    of the stems, `range_db` range re `ref`), "playing": `(frames,)` (the instrument of the clip holding
    each frame's centre)} — an element `evaluate_run` takes as is.
    """
    from tfaudio.data.labels import activations

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
# metric sets


def _json_float(x: Any) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else x


def _matrix(m: np.ndarray) -> list[list[float | None]]:
    return [[_json_float(v) for v in row] for row in np.asarray(m, np.float64)]


def choose_thresholds(y_true: Any, scores: Any, default: float = 0.5) -> np.ndarray:
    """Per-class decision thresholds `(classes,)` maximising each class's F1 on `(y_true, scores)`
    (multi-hot `(n, classes)`, scores `(n, classes)`): the midpoint between the F1-optimal score and the
    next lower one, so it is not tied to one clip's exact score. Classes with no positive (or no
    negative) example keep `default`."""
    from sklearn.metrics import precision_recall_curve

    y = (np.asarray(y_true, np.float64) > 0.5)
    scores = np.asarray(scores, np.float64)
    out = np.full(scores.shape[1], float(default))
    for c in range(scores.shape[1]):
        if y[:, c].all() or not y[:, c].any():
            continue
        precision, recall, cut = precision_recall_curve(y[:, c], scores[:, c])
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        k = int(np.argmax(f1))
        below = scores[:, c][scores[:, c] < cut[k]]
        out[c] = float((cut[k] + below.max()) / 2) if below.size else float(cut[k])
    return out


def classification_metrics(task: str, y_true: Any, scores: Any, classes: Sequence[str],
                           threshold: float | Sequence[float] = 0.5) -> dict[str, Any]:
    """Metrics of clip scores `(n, classes)` against int labels `(n,)` / multi-hot `(n, classes)`.

    single_label: accuracy, balanced_accuracy (the mean of the per-class recalls, as the Medley-Solos-DB
    literature reports it), per-class accuracy, confusion matrix. multi_label: lrap, map (mean of the
    per-class average precision over the classes present), f1_micro, f1_macro at `threshold` (one
    value, or one per class), and a per-class table of AP, F1, precision, recall and support.
    """
    from sklearn import metrics as skm

    scores = np.asarray(scores, np.float64)
    n_classes = len(classes)
    if scores.ndim != 2 or scores.shape[1] != n_classes or len(scores) == 0:
        raise DatasetError(None, f"need scores of shape (examples > 0, {n_classes}), got {scores.shape}")
    out: dict[str, Any] = {}
    if task == "single_label":
        y = np.asarray(y_true).astype(np.int64).reshape(-1)
        pred = np.argmax(scores, axis=1)
        cm = skm.confusion_matrix(y, pred, labels=np.arange(n_classes))
        support = cm.sum(axis=1)
        out["accuracy"] = float(skm.accuracy_score(y, pred))
        recalls = [cm[i, i] / support[i] for i in range(n_classes) if support[i]]
        out["balanced_accuracy"] = float(np.mean(recalls))
        out["per_class_accuracy"] = {c: (float(cm[i, i] / support[i]) if support[i] else None)
                                     for i, c in enumerate(classes)}
        out["confusion_matrix"] = cm.astype(int).tolist()
        out["support"] = {c: int(s) for c, s in zip(classes, support)}
        return out
    y = (np.asarray(y_true, np.float64) > 0.5).astype(np.int64)
    t = np.broadcast_to(np.asarray(threshold, np.float64), (n_classes,))
    pred = (scores >= t[None, :]).astype(np.int64)
    out["f1_micro"] = float(skm.f1_score(y, pred, average="micro", zero_division=0))
    out["f1_macro"] = float(skm.f1_score(y, pred, average="macro", zero_division=0))
    out["lrap"] = float(skm.label_ranking_average_precision_score(y, scores))
    present = np.flatnonzero(y.sum(axis=0) > 0)
    ap = {classes[c]: float(skm.average_precision_score(y[:, c], scores[:, c])) for c in present}
    out["map"] = float(np.mean(list(ap.values()))) if ap else None
    out["per_class_f1"] = {c: float(f) for c, f in zip(classes, skm.f1_score(y, pred, average=None,
                                                                              labels=np.arange(n_classes),
                                                                              zero_division=0))}
    out["per_class_ap"] = {c: ap.get(c) for c in classes}
    p, r, f, sup = skm.precision_recall_fscore_support(y, pred, labels=np.arange(n_classes), zero_division=0)
    out["per_class"] = {c: {"ap": ap.get(c), "f1": float(f[i]), "precision": float(p[i]), "recall": float(r[i]),
                            "support": int(sup[i]), "threshold": float(t[i])} for i, c in enumerate(classes)}
    out["threshold"] = float(t[0]) if np.all(t == t[0]) else None
    out["thresholds"] = {c: float(v) for c, v in zip(classes, t)}
    return out


def activation_metrics(predicted: Sequence[Any], reference: Sequence[Any], playing: Sequence[Any] | None,
                       classes: Sequence[str], threshold: float = 0.5, range_db: float = 60.0) -> dict[str, Any]:
    """Metrics of activation matrices: lists of `(instruments, frames_i)` predicted / reference arrays
    (and per-frame `playing` indices, see `playing_per_frame`)."""
    import keras
    from sklearn import metrics as skm

    if not len(predicted):
        raise DatasetError(None, "no examples to evaluate")
    p = np.concatenate([np.asarray(a, np.float32) for a in predicted], axis=1)
    r = np.concatenate([np.asarray(a, np.float32) for a in reference], axis=1)
    if p.shape != r.shape or p.shape[0] != len(classes):
        raise DatasetError(None, f"predicted {p.shape} and reference {r.shape} activations differ, or do not "
                                 f"have {len(classes)} instruments")
    if playing is None:
        pl = np.concatenate([playing_per_frame(a) for a in reference])
    else:
        pl = np.concatenate([np.asarray(x).reshape(-1) for x in playing]).astype(np.int64)
    bce = keras.metrics.BinaryCrossentropy()
    step = 1 << 20
    flat_r, flat_p = r.reshape(-1, 1), p.reshape(-1, 1)
    for i in range(0, len(flat_r), step):
        bce.update_state(flat_r[i:i + step], flat_p[i:i + step])
    yt, yp = (r >= threshold), (p >= threshold)
    out: dict[str, Any] = {
        "bce": float(bce.result()),
        "frame_f1": float(skm.f1_score(yt.ravel(), yp.ravel(), zero_division=0)),
        "frame_precision": float(skm.precision_score(yt.ravel(), yp.ravel(), zero_division=0)),
        "frame_recall": float(skm.recall_score(yt.ravel(), yp.ravel(), zero_division=0)),
        "frame_f1_per_class": {c: float(f) for c, f in zip(classes, skm.f1_score(
            yt.T, yp.T, average=None, labels=np.arange(len(classes)), zero_division=0))},
        "noise_matrix_db": _matrix(noise_matrix_db(p, r, pl, range_db)),
        "leakage_matrix_db": _matrix(leakage_matrix_db(p, r, pl, range_db)),
        "solo_frames": {c: int(np.sum(pl == i)) for i, c in enumerate(classes)},
        "frames": int(p.shape[1]),
        "threshold": float(threshold),
        "range_db": float(range_db),
    }
    return out


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
    from tfaudio import inference

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
    from tfaudio.io.audio import load
    from tfaudio.data.datasets import encode_labels

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


# --------------------------------------------------------------------------------------------
# the report


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return _json_float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    return x


def _as_array(m: Any) -> np.ndarray:
    return np.asarray([[np.nan if v is None else v for v in row] for row in m], np.float64)


def write_report(metrics: dict[str, Any], out_dir: str | os.PathLike, history_csv: str | os.PathLike | None = None,
                 examples: Sequence[Any] | None = None) -> list[Path]:
    """Write `metrics.json` and PNG plots to `out_dir` and list them in its manifest
    (`tfaudio.io.outputs.MANIFEST`); returns the written paths.

    Plots: "confusion_matrix.png" (single-label), "per_class_f1.png" (multi-label),
    "noise_matrix.png" and "leakage_matrix.png" (activations), "example_{i}.png" (reference vs
    predicted activations, for each of `examples`: (reference, predicted) pairs or dicts with those
    keys and an optional "title"), "training_curves.png" (from `history_csv`, when it exists).
    """
    from tfaudio.io import outputs, plots

    out = outputs.output_dir(out_dir, "report folder")
    written: list[Path] = []
    text = json.dumps(_clean(metrics), indent=2, allow_nan=False) + "\n"
    written.append(outputs.write_text(out / "metrics.json", text))
    outputs.write_manifest(out, written, "evaluate")  # what tfaudio wrote here, and may replace
    classes = metrics.get("classes") or []
    task = metrics.get("task")
    if task == "single_label" and "confusion_matrix" in metrics:
        written.append(plots.plot_matrix(metrics["confusion_matrix"], classes, out / "confusion_matrix.png",
                                         title=f"confusion matrix (accuracy {metrics['accuracy']:.3f})"))
    if task == "multi_label" and "per_class_f1" in metrics:
        written.append(plots.plot_scores([metrics["per_class_f1"][c] for c in classes], classes,
                                         out / "per_class_f1.png",
                                         title=f"F1 per class (micro {metrics['f1_micro']:.3f}, "
                                               f"macro {metrics['f1_macro']:.3f})"))
    if task == "activation":
        rng = float(metrics.get("range_db", 60.0))
        for key, name, title in (("noise_matrix_db", "noise_matrix.png", "noise (dB)"),
                                 ("leakage_matrix_db", "leakage_matrix.png", "leakage (dB)")):
            if key in metrics:
                written.append(plots.plot_matrix(_as_array(metrics[key]), classes, out / name, title=title,
                                                 xlabel="predicted instrument", ylabel="instrument playing",
                                                 vmin=-rng, vmax=0.0, cmap="viridis"))
        hop_seconds = metrics.get("hop_length", 1024) / metrics.get("sr", 44100)
        for i, ex in enumerate(examples or []):
            if isinstance(ex, dict):
                ref, pred, title = ex["reference"], ex["predicted"], ex.get("title", f"example {i}")
            else:
                ref, pred = ex[0], ex[1]
                title = f"example {i}"
            written.append(plots.plot_activation_comparison(ref, pred, classes, out / f"example_{i}.png",
                                                            hop_seconds=hop_seconds, title=title, range_db=rng))
    if history_csv is not None:
        if Path(history_csv).is_file():
            written.append(plots.plot_history(history_csv, out / "training_curves.png"))
        else:
            log.warning("%s: no training history; training_curves.png not written", history_csv)
    outputs.write_manifest(out, written, "evaluate")
    return written


# --------------------------------------------------------------------------------------------
# songs with per-instrument stems (format "stems"): threshold-free and segment-based metrics


def threshold_free_metrics(predicted: Any, reference: Any, classes: Sequence[str],
                           threshold: float = 0.5) -> dict[str, Any]:
    """Threshold-free frame metrics of activations `(instruments, frames)` (songs concatenated on frames).

    A cell is positive when its reference activation is >= `threshold`; the predicted activation is
    its score. With scikit-learn: "auc_roc" per instrument (``roc_auc_score``; null when the
    instrument's frames are all positive or all negative) and "auc_roc_macro" (their mean);
    "ap" per instrument (``average_precision_score``; null without a positive frame) and "map"
    (their mean); "auc_roc_micro" and "ap_micro" over all cells; "lrap"
    (``label_ranking_average_precision_score`` over frames, each frame's labels the instruments
    positive in it) over the "lrap_frames" frames with at least one positive instrument (sklearn
    scores a frame without one as a perfect 1, so those frames are left out; null when none is left).
    """
    from sklearn import metrics as skm

    p = np.asarray(predicted, np.float64)
    r = np.asarray(reference, np.float64)
    if p.shape != r.shape or p.ndim != 2 or p.shape[0] != len(classes):
        raise DatasetError(None, f"predicted {p.shape} and reference {r.shape} activations differ, or are not "
                                 f"({len(classes)} instruments, frames)")
    y = (r >= threshold).astype(np.int64)
    auc: dict[str, float | None] = {}
    ap: dict[str, float | None] = {}
    for i, c in enumerate(classes):
        pos = int(y[i].sum())
        auc[c] = float(skm.roc_auc_score(y[i], p[i])) if 0 < pos < y.shape[1] else None
        ap[c] = float(skm.average_precision_score(y[i], p[i])) if pos > 0 else None
    keep = y.sum(axis=0) > 0
    flat_y, flat_p = y.ravel(), p.ravel()

    def mean(d: dict[str, float | None]) -> float | None:
        v = [x for x in d.values() if x is not None]
        return float(np.mean(v)) if v else None

    return {
        "auc_roc": auc,
        "auc_roc_macro": mean(auc),
        "auc_roc_micro": (float(skm.roc_auc_score(flat_y, flat_p)) if 0 < flat_y.sum() < flat_y.size else None),
        "ap": ap,
        "map": mean(ap),
        "ap_micro": float(skm.average_precision_score(flat_y, flat_p)) if flat_y.sum() > 0 else None,
        "lrap": (float(skm.label_ranking_average_precision_score(y[:, keep].T, p[:, keep].T))
                 if keep.any() else None),
        "lrap_frames": int(keep.sum()),
    }


def roll_events(roll: Any, classes: Sequence[str], frame_seconds: float, filename: str = "song") -> list[dict]:
    """Events of a binary roll `(instruments, frames)`: each run of active frames ``t0..t1`` of an
    instrument is an event from ``t0 · frame_seconds`` to ``(t1 + 1) · frame_seconds`` (frame `t` stands
    for ``[t, t + 1) · frame_seconds``), as dicts with sed_eval's keys (event_label, onset, offset,
    filename)."""
    roll = np.asarray(roll, bool)
    events = []
    for i, c in enumerate(classes):
        d = np.diff(np.concatenate([[0], roll[i].astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            # rounded to 1 ns, so that 30 frames of 0.1 s end at 3.0 s, not 3.0000000000000004 (another segment)
            events.append({"event_label": c, "onset": round(float(a * frame_seconds), 9),
                           "offset": round(float(b * frame_seconds), 9), "filename": filename})
    return events


def segment_metrics(predicted: Sequence[Any], reference: Sequence[Any], classes: Sequence[str],
                    frame_seconds: float, threshold: float = 0.5, segment_seconds: float = 1.0,
                    durations: Sequence[float] | None = None) -> dict[str, Any]:
    """Segment-based F1 and error rate (Mesaros, Heittola and Virtanen 2016, "Metrics for polyphonic
    sound event detection", Appl. Sci. 6(6):162), computed by ``sed_eval.sound_event.SegmentBasedMetrics``.

    `predicted`, `reference`: one `(instruments, frames)` activation matrix per song; an instrument is
    active in a frame when its activation is >= `threshold`, and active in a `segment_seconds` segment
    when it is active in a frame that overlaps the segment (frames as `roll_events` times them;
    `durations`: each song's evaluated length in seconds, default its frames · `frame_seconds`).
    Counted over the segments `k` of all songs, with ``TP(k)``, ``FP(k)``, ``FN(k)`` the instruments
    active in both / only the prediction / only the reference, ``N(k)`` the reference's active
    instruments:

    * ``precision = ΣTP / (ΣTP + ΣFP)``, ``recall = ΣTP / (ΣTP + ΣFN)``,
      ``F1 = 2 ΣTP / (2 ΣTP + ΣFP + ΣFN)`` (0 when the prediction marks no segment);
    * ``S(k) = min(FN(k), FP(k))``, ``D(k) = max(0, FN(k) - FP(k))``, ``I(k) = max(0, FP(k) - FN(k))``,
      ``ER = (ΣS + ΣD + ΣI) / ΣN``, with its substitution, deletion and insertion rates.

    Returns "segment_f1", "segment_precision", "segment_recall", "segment_error_rate",
    "segment_substitution_rate", "segment_deletion_rate", "segment_insertion_rate" (overall, i.e.
    micro), per instrument (sed_eval's class-wise counts) "segment_f1_per_class" (``2TP / (2TP + FP +
    FN)``, null when the instrument is active in neither) and "segment_error_rate_per_class"
    (``(FN + FP) / N``, null when the reference never has it), "segment_f1_class_average" /
    "segment_error_rate_class_average" (means of the non-null per-instrument values),
    "segment_seconds" and "segments" (segments evaluated).
    """
    import warnings

    import sed_eval

    if len(predicted) != len(reference) or not len(predicted):
        raise DatasetError(None, "segment metrics need one predicted and one reference matrix per song")
    labels = list(classes)
    m = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=labels, time_resolution=float(segment_seconds))
    m.empty_system_output_handling = "zero_score"  # F1 = 2TP / (2TP + FP + FN) = 0, not NaN, for a silent system
    segments = 0
    for k, (p, r) in enumerate(zip(predicted, reference)):
        p, r = np.asarray(p), np.asarray(r)
        if p.shape != r.shape or p.ndim != 2 or p.shape[0] != len(labels):
            raise DatasetError(None, f"song {k}: predicted {p.shape} and reference {r.shape} activations differ")
        length = float(durations[k]) if durations is not None else p.shape[1] * frame_seconds
        name = f"song_{k}"
        m.evaluate(reference_event_list=roll_events(r >= threshold, labels, frame_seconds, name),
                   estimated_event_list=roll_events(p >= threshold, labels, frame_seconds, name),
                   evaluated_length_seconds=length)
        segments += int(math.ceil(length / float(segment_seconds)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = m.results()
    overall = res["overall"]
    f1_per_class: dict[str, float | None] = {}
    er_per_class: dict[str, float | None] = {}
    for c in labels:  # from sed_eval's class-wise counts; its own averages divide by Nref = 0 (eps) or drop F = 0
        n = m.class_wise[c]
        tp, fp, fn, nref = n["Ntp"], n["Nfp"], n["Nfn"], n["Nref"]
        f1_per_class[c] = float(2 * tp / (2 * tp + fp + fn)) if 2 * tp + fp + fn > 0 else None
        er_per_class[c] = float((fn + fp) / nref) if nref > 0 else None

    def mean(d: dict[str, float | None]) -> float | None:
        v = [x for x in d.values() if x is not None]
        return float(np.mean(v)) if v else None

    return {
        "segment_f1": _json_float(overall["f_measure"]["f_measure"]),
        "segment_precision": _json_float(overall["f_measure"]["precision"]),
        "segment_recall": _json_float(overall["f_measure"]["recall"]),
        "segment_error_rate": _json_float(overall["error_rate"]["error_rate"]),
        "segment_substitution_rate": _json_float(overall["error_rate"]["substitution_rate"]),
        "segment_deletion_rate": _json_float(overall["error_rate"]["deletion_rate"]),
        "segment_insertion_rate": _json_float(overall["error_rate"]["insertion_rate"]),
        "segment_f1_per_class": f1_per_class,
        "segment_error_rate_per_class": er_per_class,
        "segment_f1_class_average": mean(f1_per_class),
        "segment_error_rate_class_average": mean(er_per_class),
        "segment_seconds": float(segment_seconds),
        "segments": segments,
    }


def _normalised_name(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def class_index(name: str, classes: Sequence[str]) -> int | None:
    """The index of instrument `name` among `classes` (exact, else ignoring case, ``_`` and ``-``), or None."""
    if name in classes:
        return list(classes).index(name)
    wanted = _normalised_name(name)
    for i, c in enumerate(classes):
        if _normalised_name(c) == wanted:
            return i
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Song:
    """One evaluated song: `predicted` and `reference` `(instruments, frames)`, `playing` `(frames,)`
    (the instrument playing alone, counting stems of every instrument, -1 elsewhere), `info` (JSON-able)."""

    name: str
    predicted: np.ndarray
    reference: np.ndarray
    playing: np.ndarray
    samples: int
    info: dict


def song_reference(record: Any, spec: RunSpec, samples: int | None = None, ref: float = 1.0,
                   range_db: float = 60.0, mix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Reference activations of a "stems" record (`tfaudio.data.datasets.from_stems`) at the run's rate and hop.

    Each instrument's stems, as they are in the mix (no level scaling: they are the reference), are
    loaded at `spec.sr`, summed, padded or cut to `samples` (default: the first stem's length) and
    turned into `tfaudio.data.labels.activations` with the features' `n_fft` / `hop_length`, `ref` and
    `range_db`, as training labels its mixes. Returns (reference `(classes, frames)`, playing
    `(frames,)`, info): stems of instruments outside the run's classes get no row but count for
    `playing` (a frame is an instrument's solo frame only if no other stem is active: activation > 0)
    and are listed in info["unknown_instruments"]; info["mix_residual_db"] (with `mix`) is the level
    of ``mix - sum(stems)`` relative to the mix.
    """
    from tfaudio.io.audio import load
    from tfaudio.data.labels import activations

    classes = list(spec.classes)
    f = spec.features
    groups: dict[Any, list[str]] = {}
    unknown: list[str] = []
    for inst, paths in dict(record.meta.get("stems") or {}).items():
        k = class_index(inst, classes)
        if k is None:
            unknown.append(inst)
            k = f"?{inst}"
        groups.setdefault(k, []).extend(paths)
    if not groups:
        raise DatasetError(record.path, "song has no stems")
    reference = None
    rows: list[np.ndarray] = []
    total = None
    info: dict[str, Any] = {"instruments": sorted(classes[k] for k in groups if isinstance(k, int)),
                            "unknown_instruments": sorted(unknown)}
    for key, paths in groups.items():
        y = None
        for path in paths:
            s, _ = load(path, sr=spec.sr)
            if samples is None:
                samples = len(s)
            if abs(len(s) - samples) > f.hop_length:
                log.warning("%s: %d samples at %d Hz, the mix has %d; padded or cut to the mix", path, len(s),
                            spec.sr, samples)
            s = np.pad(s, (0, max(0, samples - len(s))))[:samples]
            y = s if y is None else y + s
        total = y.copy() if total is None else total + y
        a = activations(y[None], frame_length=f.n_fft, hop_length=f.hop_length, ref=ref, top_db=range_db).numpy()[0]
        if reference is None:
            reference = np.zeros((len(classes), a.shape[0]), np.float32)
        if isinstance(key, int):
            reference[key] = a
        rows.append(a)
    on = np.stack(rows) > 0
    solo = on.sum(axis=0) == 1
    owner = np.argmax(on, axis=0)
    index = np.array([k if isinstance(k, int) else -1 for k in groups])
    playing = np.where(solo, index[owner], -1).astype(np.int64)
    if mix is not None:
        m = np.asarray(mix, np.float64)[:samples]
        rms_mix = float(np.sqrt(np.mean(m ** 2))) if m.size else 0.0
        rms_res = float(np.sqrt(np.mean((m - total[:len(m)]) ** 2))) if m.size else 0.0
        info["mix_residual_db"] = (max(-200.0, 20 * math.log10(max(rms_res, 1e-30) / rms_mix)) if rms_mix > 0
                                   else None)
        if info["mix_residual_db"] is not None and info["mix_residual_db"] > -20:
            log.warning("%s: the stems do not add up to the mix (residual %.1f dB re the mix)", record.path,
                        info["mix_residual_db"])
    return reference, playing, info


def collect_songs(model: Any, spec: RunSpec, records: Sequence[Any], ref: float = 1.0, range_db: float = 60.0,
                  strict: bool = False, batch_windows: int = 64) -> tuple[list[Song], list[tuple[str, str]]]:
    """Predict every song of `records` (format "stems") whole and compute its reference from its stems.

    The mix is loaded at `spec.sr` and predicted with `tfaudio.inference.predict_audio` (sliding windows,
    overlap-add); the reference is `song_reference`. A song whose audio cannot be decoded is skipped
    (logged, returned in the skipped list) or, with `strict`, raises its AudioFileError.
    Returns (songs, skipped (path, problem) pairs).
    """
    from tfaudio.io.audio import load
    from tfaudio.errors import AudioFileError
    from tfaudio.inference import predict_audio, predictor

    if spec.task != "activation":
        raise DatasetError(None, f"songs with stems evaluate activation runs, not {spec.task} runs")
    p = predictor(model, spec, batch_windows)
    songs: list[Song] = []
    skipped: list[tuple[str, str]] = []
    for rec in records:
        name = str(rec.meta.get("song") or Path(rec.path).parent.name)
        try:
            mix, _ = load(rec.path, sr=spec.sr)
            pred = predict_audio(p, None, mix, source=rec.path).activations
            reference, playing, info = song_reference(rec, spec, len(mix), ref, range_db, mix=mix)
        except AudioFileError as e:
            if strict:
                raise
            log.warning("skipped song %s: %s", name, e)
            skipped.append((e.path or rec.path, e.problem))
            continue
        t = pred.shape[1]
        if reference.shape[1] != t:  # both are 1 + samples // hop_length: only a mismatch of lengths
            reference = np.pad(reference, ((0, 0), (0, max(0, t - reference.shape[1]))))[:, :t]
            playing = np.pad(playing, (0, max(0, t - len(playing))), constant_values=-1)[:t]
        info.update(song=name, path=rec.path, subset=rec.subset, seconds=len(mix) / spec.sr, frames=t)
        songs.append(Song(name, pred, reference, playing, len(mix), info))
    return songs, skipped


def polyphonic_detection(predicted: np.ndarray, reference: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """How many playing instruments are found where several play: over the frames with >= 2 reference
    instruments at or above `threshold`, the fraction of those (frame, instrument) pairs whose predicted
    activation is >= `threshold` ("polyphonic_recall"), and the fraction of such frames where every
    playing instrument is found ("polyphonic_frames_all_found"); likewise for solo frames. Arrays
    `(instruments, frames)`."""
    playing = np.asarray(reference) >= threshold
    found = np.asarray(predicted) >= threshold
    n = playing.sum(axis=0)
    out: dict[str, Any] = {}
    for name, frames in (("polyphonic", n >= 2), ("solo", n == 1)):
        pairs = playing[:, frames]
        hit = found[:, frames] & pairs
        out[f"{name}_recall"] = float(hit.sum() / pairs.sum()) if pairs.sum() else None
        out[f"{name}_frames_all_found"] = float(np.mean((hit.sum(axis=0) == pairs.sum(axis=0)))) \
            if frames.any() else None
    return out


def song_metrics(songs: Sequence[Song], spec: RunSpec, threshold: float | None = None, range_db: float = 60.0,
                 segment_seconds: float = 1.0) -> dict[str, Any]:
    """All metrics of evaluated songs: `activation_metrics` (BCE, frame F1, seed 001's noise and leakage
    matrices), `threshold_free_metrics` (AUC-ROC, AP, LRAP), `segment_metrics` (segment-based F1 and
    error rate) and "polyphony_frames" (frames by the number of instruments with a reference activation
    >= threshold), plus "per_song" details."""
    if not songs:
        raise DatasetError(None, "no songs to evaluate")
    t = spec.threshold if threshold is None else float(threshold)
    classes = list(spec.classes)
    hop_s = spec.features.hop_length / spec.sr
    p = np.concatenate([s.predicted for s in songs], axis=1)
    r = np.concatenate([s.reference for s in songs], axis=1)
    out: dict[str, Any] = {"task": "activation", "data_format": "stems", "classes": classes,
                           "n_examples": len(songs), "sr": spec.sr, "hop_length": spec.features.hop_length,
                           "seconds": float(sum(s.samples for s in songs) / spec.sr)}
    out.update(activation_metrics([s.predicted for s in songs], [s.reference for s in songs],
                                  [s.playing for s in songs], classes, t, range_db))
    out.update(threshold_free_metrics(p, r, classes, t))
    out.update(segment_metrics([s.predicted for s in songs], [s.reference for s in songs], classes, hop_s, t,
                               segment_seconds, durations=[s.samples / spec.sr for s in songs]))
    poly = (r >= t).sum(axis=0)
    out["polyphony_frames"] = {str(k): int(np.sum(poly == k)) for k in range(int(poly.max()) + 1)}
    out.update(polyphonic_detection(p, r, t))
    per_song = []
    for s in songs:
        eps = 1e-7
        q = np.clip(s.predicted.astype(np.float64), eps, 1 - eps)
        bce = -np.mean(s.reference * np.log(q) + (1 - s.reference) * np.log(1 - q))
        per_song.append({**s.info, "bce": float(bce),
                         "max_polyphony": int((s.reference >= t).sum(axis=0).max(initial=0))})
    out["per_song"] = per_song
    unknown = sorted({u for s in songs for u in s.info.get("unknown_instruments", [])})
    if unknown:
        out["unknown_instruments"] = unknown
    return out


def evaluate_songs(model: Any, spec: RunSpec, records: Sequence[Any], threshold: float | None = None,
                   ref: float = 1.0, range_db: float = 60.0, segment_seconds: float = 1.0,
                   strict: bool = False) -> dict[str, Any]:
    """Evaluate an activation run on songs with per-instrument stems (`tfaudio.data.datasets.from_stems`
    records): `collect_songs` then `song_metrics`. JSON-able metrics dict."""
    songs, skipped = collect_songs(model, spec, records, ref, range_db, strict)
    metrics = song_metrics(songs, spec, threshold, range_db, segment_seconds)
    metrics["skipped"] = [{"path": p, "problem": m} for p, m in skipped]
    return metrics


def evaluate_songs_and_report(model: Any, spec: RunSpec, records: Sequence[Any], out_dir: str | os.PathLike,
                              threshold: float | None = None, ref: float = 1.0, range_db: float = 60.0,
                              segment_seconds: float = 1.0, strict: bool = False, n_examples: int = 3,
                              history_csv: str | os.PathLike | None = None,
                              split: str | None = None) -> tuple[dict[str, Any], list[Path]]:
    """`evaluate_songs` + `write_report` (metrics.json, noise/leakage matrices, the first `n_examples`
    songs' reference vs predicted activations, training curves) + "per_class_auc.png" and
    "per_class_ap.png". Returns (metrics, written files)."""
    from tfaudio.io import plots

    songs, skipped = collect_songs(model, spec, records, ref, range_db, strict)
    metrics = song_metrics(songs, spec, threshold, range_db, segment_seconds)
    metrics["skipped"] = [{"path": p, "problem": m} for p, m in skipped]
    metrics["split"] = split
    examples = [{"reference": s.reference, "predicted": s.predicted, "title": s.name} for s in songs[:n_examples]]
    files = write_report(metrics, out_dir, history_csv=history_csv, examples=examples)
    classes = metrics["classes"]
    out = Path(out_dir)
    for key, name, what, avg in (("auc_roc", "per_class_auc.png", "AUC-ROC", "auc_roc_macro"),
                                 ("ap", "per_class_ap.png", "average precision", "map")):
        vals = [np.nan if metrics[key][c] is None else metrics[key][c] for c in classes]
        mean = metrics[avg]
        files.append(plots.plot_scores(vals, classes, out / name, title=f"{what} per instrument (mean "
                                       f"{'n/a' if mean is None else f'{mean:.3f}'})"))
    return metrics, files


def songs_summary(metrics: dict[str, Any], split: str | None = None) -> str:
    """A few lines for the command line: what was evaluated, and the key song metrics."""
    def f(key: str) -> str:
        v = metrics.get(key)
        return "n/a" if v is None else f"{v:.3f}"

    poly = metrics.get("polyphony_frames", {})
    lines = [f"evaluated {metrics['n_examples']} song(s), {metrics['seconds']:.1f} s, split "
             f"{split if split is not None else 'all songs'} (stems):",
             f"  AUC-ROC macro {f('auc_roc_macro')}  mAP {f('map')}  LRAP {f('lrap')}",
             f"  segment ({metrics['segment_seconds']:g} s) F1 {f('segment_f1')}  ER {f('segment_error_rate')}"
             f"  (S {f('segment_substitution_rate')}, D {f('segment_deletion_rate')}, "
             f"I {f('segment_insertion_rate')})",
             f"  bce {f('bce')}  frame F1 {f('frame_f1')}  (threshold {metrics['threshold']:g})",
             "  frames by instruments playing: " + ", ".join(f"{k}: {v}" for k, v in poly.items())]
    for key, what in (("noise_matrix_db", "noise"), ("leakage_matrix_db", "leakage")):
        m = np.array([[np.nan if v is None else v for v in row] for row in metrics.get(key, [])], dtype=float)
        if m.size and np.isfinite(m).any():
            lines.append(f"  {what}: mean {np.nanmean(m):.1f} dB over {int(np.isfinite(m).sum())} cells "
                         f"(-{metrics['range_db']:g} dB = none)")
        else:
            lines.append(f"  {what}: n/a (no instrument plays alone)")
    if metrics.get("unknown_instruments"):
        lines.append(f"  stems outside the run's classes (mixed in, no reference row): "
                     f"{', '.join(metrics['unknown_instruments'])}")
    if metrics.get("skipped"):
        lines.append(f"  skipped {len(metrics['skipped'])} song(s): " +
                     "; ".join(f"{s['path']}: {s['problem']}" for s in metrics["skipped"]))
    return "\n".join(lines)
