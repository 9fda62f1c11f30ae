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

Data (`data`): a `tf.data.Dataset` (batched or not) of dicts — the keys of `tfaudio.data.mixtures`:
"features" or "audio" in, "activations" or "labels" out, optionally "playing" — or of (x, y) pairs;
a dict of arrays; an (x, y) pair of arrays; or any iterable of such elements. Audio examples longer
or shorter than the model's window (e.g. a rendered sequence of instruments played in turn, with its
reference activations) go through `tfaudio.inference`'s sliding windows and overlap-add.
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
from tfaudio.run import RunSpec

log = logging.getLogger(__name__)

__all__ = ["Collected", "collect_predictions", "compute_metrics", "evaluate_run", "evaluate_and_report",
           "write_report", "classification_metrics", "activation_metrics", "noise_matrix_db",
           "leakage_matrix_db", "playing_per_frame", "level_amplitude", "sequence_example"]


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

    Returns {"audio": `(samples,)`, "activations": `(instruments, frames)` (`tfaudio.labels.activations`
    of the stems, `range_db` range re `ref`), "playing": `(frames,)` (the instrument of the clip holding
    each frame's centre)} — an element `evaluate_run` takes as is.
    """
    from tfaudio import labels as L

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
    acts = L.activations(stems, frame_length=f.n_fft, hop_length=f.hop_length, ref=ref, top_db=range_db).numpy()
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


def classification_metrics(task: str, y_true: Any, scores: Any, classes: Sequence[str],
                           threshold: float = 0.5) -> dict[str, Any]:
    """Metrics of clip scores `(n, classes)` against int labels `(n,)` / multi-hot `(n, classes)`."""
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
        out["per_class_accuracy"] = {c: (float(cm[i, i] / support[i]) if support[i] else None)
                                     for i, c in enumerate(classes)}
        out["confusion_matrix"] = cm.astype(int).tolist()
        out["support"] = {c: int(s) for c, s in zip(classes, support)}
        return out
    y = (np.asarray(y_true, np.float64) > 0.5).astype(np.int64)
    pred = (scores >= threshold).astype(np.int64)
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
    out["threshold"] = float(threshold)
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
                        batch_windows: int = 64) -> Collected:
    """Run the model over `data` (see the module doc); returns predictions and references."""
    from tfaudio import inference as I

    pred = I.predictor(model, spec, batch_windows)
    input_kind = I._input_kind(spec)
    n_classes = len(spec.classes)
    preds: list[Any] = []
    refs: list[Any] = []
    plays: list[Any] = []
    count = 0
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
        else:
            res = pred.waveform(x.astype(np.float32))
            out = res["activations"] if spec.task == "activation" else res["scores"]
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
    return Collected(spec, np.stack(preds), np.stack(refs))


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
    t = spec.threshold if threshold is None else float(threshold)
    head: dict[str, Any] = {"task": spec.task, "classes": list(spec.classes), "n_examples": collected.n_examples}
    if spec.task == "activation":
        m = activation_metrics(collected.predicted, collected.reference, collected.playing, spec.classes, t,
                               range_db)
        head.update(sr=spec.sr, hop_length=spec.features.hop_length)
    else:
        m = classification_metrics(spec.task, collected.reference, collected.predicted, spec.classes, t)
    return {**head, **m}


def evaluate_run(model: Any, spec: RunSpec, data: Any, threshold: float | None = None, range_db: float = 60.0,
                 max_examples: int | None = None) -> dict[str, Any]:
    """Evaluate `model` (fitting `spec`) on `data` -> JSON-able metrics (see the module doc)."""
    return compute_metrics(collect_predictions(model, spec, data, max_examples), threshold, range_db)


def evaluate_and_report(model: Any, spec: RunSpec, data: Any, out_dir: str | os.PathLike,
                        history_csv: str | os.PathLike | None = None, n_examples: int = 3,
                        threshold: float | None = None, range_db: float = 60.0,
                        max_examples: int | None = None) -> tuple[dict[str, Any], list[Path]]:
    """`evaluate_run` + `write_report` (with `n_examples` activation examples): (metrics, files)."""
    collected = collect_predictions(model, spec, data, max_examples)
    metrics = compute_metrics(collected, threshold, range_db)
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
    """Write `metrics.json` and PNG plots to `out_dir`; returns the written paths.

    Plots: "confusion_matrix.png" (single-label), "per_class_f1.png" (multi-label),
    "noise_matrix.png" and "leakage_matrix.png" (activations), "example_{i}.png" (reference vs
    predicted activations, for each of `examples`: (reference, predicted) pairs or dicts with those
    keys and an optional "title"), "training_curves.png" (from `history_csv`, when it exists).
    """
    from tfaudio import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    path = out / "metrics.json"
    tmp = out / f".metrics.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(_clean(metrics), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    written.append(path)
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
    return written
