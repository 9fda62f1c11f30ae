"""Metrics, pure: classification (accuracy, F1, LRAP, mAP), activations (BCE, frame F1, seed 001's noise and
leakage matrices), threshold-free (AUC, AP, frame LRAP), segment F1/ER of events (sed_eval), polyphony.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tfaudio.errors import DatasetError
import warnings


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
    from sklearn.metrics import precision_recall_curve  # lazy: scikit-learn loads only where it runs (~0.5 s)

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
    from sklearn import metrics as skm  # lazy: scikit-learn loads only where it runs (~0.5 s)

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
    import keras  # lazy: this module stays free of TensorFlow (light to import)
    from sklearn import metrics as skm  # lazy: scikit-learn loads only where it runs (~0.5 s)

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
    from sklearn import metrics as skm  # lazy: scikit-learn loads only where it runs (~0.5 s)

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
    import sed_eval  # lazy: event metrics only

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
