"""Songs with per-instrument stems (format "stems"): the loader, the song metrics (threshold-free,
segment-based), rendered songs, and `tfaudio evaluate RUN --data SONGS --format stems`."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import fixtures
from tfaudio import cli
from tfaudio.data import datasets, multitrack
from tfaudio.evaluation import metrics, songs
from tfaudio.errors import DatasetError, TfaudioError

SR = 22050


def _song(folder: Path, stems: dict[str, np.ndarray], sr: int = SR, mix: bool = True) -> Path:
    """A song folder: stems/<name>.wav (a name ending in "/" is a folder of several files) + mix.wav."""
    total = None
    for name, y in stems.items():
        fixtures.write_audio(folder / "stems" / f"{name}.wav", y, sr, "FLOAT")
        total = y.copy() if total is None else total + y
    if not stems:
        (folder / "stems").mkdir(parents=True, exist_ok=True)
    if mix:
        fixtures.write_audio(folder / "mix.wav", total if total is not None else fixtures.silence(0.5, sr), sr,
                             "FLOAT")
    return folder


# --- loader -------------------------------------------------------------------------------------

def test_folder_layout_songs_splits_and_instrument_names(tmp_path):
    a, b = fixtures.sine(440, 0.5), fixtures.sine(660, 0.5, amp=0.2)
    _song(tmp_path / "solo_song", {"piano": a, "tenor_saxophone": b})
    _song(tmp_path / "test" / "song_b", {"violin/take1": a, "violin/take2": b, "flute": a})
    _song(tmp_path / "training" / "song_c", {"flute": b})
    _song(tmp_path / ".song_d.tmp-1-x", {"flute": b})  # a half-rendered song: hidden, ignored
    (tmp_path / "notes.txt").write_text("not a song")
    recs = datasets.from_stems(tmp_path)
    assert not recs.skipped
    by_song = {r.meta["song"]: r for r in recs}
    assert sorted(by_song) == ["solo_song", "test/song_b", "training/song_c"]
    solo = by_song["solo_song"]
    assert solo.path == str(tmp_path / "solo_song" / "mix.wav") and solo.subset is None
    assert solo.labels == ("piano", "tenor saxophone")
    assert solo.meta["stems"]["tenor saxophone"] == (str(tmp_path / "solo_song" / "stems" / "tenor_saxophone.wav"),)
    song_b = by_song["test/song_b"]
    assert song_b.subset == "test" and song_b.labels == ("flute", "violin")
    assert [Path(p).name for p in song_b.meta["stems"]["violin"]] == ["take1.wav", "take2.wav"]
    assert by_song["training/song_c"].subset == "training"
    test = datasets.load_records("stems", tmp_path, split="test")
    assert [r.meta["song"] for r in test] == ["test/song_b"]
    assert datasets.summary(test) == {"test": {"flute": 1, "violin": 1}}


def test_bad_songs_are_skipped_naming_the_file_or_refused_when_strict(tmp_path):
    bad = fixtures.write_bad_files(tmp_path / "bad")
    good = _song(tmp_path / "songs" / "good", {"piano": fixtures.sine(seconds=0.3)})
    trunc = _song(tmp_path / "songs" / "truncated_stem", {"piano": fixtures.sine(seconds=0.3)})
    (trunc / "stems" / "flute.wav").write_bytes(bad["truncated"].read_bytes())
    _song(tmp_path / "songs" / "no_mix", {"piano": fixtures.sine(seconds=0.3)}, mix=False)
    _song(tmp_path / "songs" / "no_stems", {})
    recs = datasets.from_stems(tmp_path / "songs")
    assert [r.path for r in recs] == [str(good / "mix.wav")]
    problems = dict(recs.skipped)
    assert len(problems) == 3
    assert "truncated" in problems[str(trunc / "stems" / "flute.wav")]
    assert "not found" in problems[str(tmp_path / "songs" / "no_mix" / "mix.wav")]
    assert "no stems" in problems[str(tmp_path / "songs" / "no_stems" / "mix.wav")]
    with pytest.raises(DatasetError) as e:
        datasets.load_records("stems", tmp_path / "songs", strict=True)
    assert str(e.value).startswith(str(tmp_path / "songs")) and "\n" not in str(e.value)
    with pytest.raises(DatasetError, match="no songs found"):
        datasets.from_stems(tmp_path / "bad")
    with pytest.raises(DatasetError, match="not found"):
        datasets.from_stems(tmp_path / "nowhere")


def test_manifest_rows_per_stem_subsets_and_escaping_paths(tmp_path, capsys):
    root = tmp_path / "data"
    _song(root / "s1", {"piano": fixtures.sine(seconds=0.3), "violin": fixtures.sine(880, 0.3)})
    _song(root / "s2", {"flute": fixtures.sine(seconds=0.3), "flute2": fixtures.sine(700, 0.3)})
    fixtures.write_audio(tmp_path / "outside.wav", fixtures.sine(seconds=0.3), SR)
    manifest = root / "songs.csv"
    rows = [("s1/mix.wav", "s1/stems/piano.wav", "piano", "test"),
            ("s1/mix.wav", "s1/stems/violin.wav", "violin", "test"),
            ("s2/mix.wav", "s2/stems/flute.wav", "flute", "training"),
            ("s2/mix.wav", "s2/stems/flute2.wav", "flute", "training"),  # one instrument, two stems: summed
            ("s3/mix.wav", "../outside.wav", "piano", "test")]
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mix", "stem", "instrument", "subset"])
        w.writerows(rows)
    recs = datasets.from_stems(manifest)
    assert [(r.meta["song"], r.labels, r.subset) for r in recs] == [
        ("s1/mix.wav", ("piano", "violin"), "test"), ("s2/mix.wav", ("flute",), "training")]
    assert len(recs[1].meta["stems"]["flute"]) == 2
    (where, problem), = recs.skipped
    assert where == f"{manifest}:6" and "escapes the data-set root" in problem
    assert [r.meta["song"] for r in datasets.load_records("stems", manifest, split="training")] == ["s2/mix.wav"]
    with pytest.raises(DatasetError, match="escapes"):
        datasets.from_stems(manifest, strict=True)
    bad = root / "bad.csv"
    bad.write_text("path,label\ns1/mix.wav,piano\n")
    with pytest.raises(DatasetError, match="needs columns mix,stem,instrument"):
        datasets.from_stems(bad)
    assert cli.main(["data", "summary", str(manifest), "--format", "stems"]) == 0
    out = capsys.readouterr().out
    assert "violin" in out and "skipped 1 file(s)" in out


# --- metrics ------------------------------------------------------------------------------------

def test_threshold_free_metrics_match_sklearn_and_hand_values():
    from sklearn import metrics as skm

    classes = ["a", "b", "c"]
    # frame 4 has no reference instrument (>= 0.5)
    ref = np.array([[0.1, 0.2, 0.9, 0.8, 0.0],
                    [0.9, 0.0, 0.2, 0.1, 0.0],
                    [0.0, 0.7, 0.3, 0.4, 0.1]])
    pred = np.array([[0.1, 0.4, 0.35, 0.8, 0.9],
                     [0.5, 0.2, 0.5, 0.3, 0.9],
                     [0.6, 0.1, 0.2, 0.1, 0.9]])
    m = metrics.threshold_free_metrics(pred, ref, classes, threshold=0.5)
    y = ref >= 0.5
    # "a" by hand: positives 0.35, 0.8 and negatives 0.1, 0.4, 0.9 -> 3 of 6 pairs ordered: AUC 0.5;
    # ranked 0.9-, 0.8+, 0.4-, 0.35+, 0.1-: precision 1/2 at each positive: AP 0.5
    assert m["auc_roc"]["a"] == pytest.approx(0.5)
    assert m["ap"]["a"] == pytest.approx(0.5)
    for i, c in enumerate(classes):
        assert m["auc_roc"][c] == pytest.approx(skm.roc_auc_score(y[i], pred[i]))
        assert m["ap"][c] == pytest.approx(skm.average_precision_score(y[i], pred[i]))
    assert m["auc_roc_macro"] == pytest.approx(np.mean(list(m["auc_roc"].values())))
    assert m["map"] == pytest.approx(np.mean(list(m["ap"].values())))
    assert m["ap_micro"] == pytest.approx(skm.average_precision_score(y.ravel(), pred.ravel()))
    # LRAP by hand over frames 0-3 (frame 4 has no reference instrument and is left out):
    # f0 {b}: b ranks 2nd -> 1/2; f1 {c}: c ranks 3rd -> 1/3; f2 {a}: a ranks 2nd -> 1/2; f3 {a}: 1st -> 1
    assert m["lrap_frames"] == 4
    assert m["lrap"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 1) / 4)
    assert m["lrap"] == pytest.approx(skm.label_ranking_average_precision_score(y[:, :4].T, pred[:, :4].T))
    silent = metrics.threshold_free_metrics(pred, np.zeros_like(ref), classes)
    assert silent["auc_roc"] == {"a": None, "b": None, "c": None} and silent["lrap"] is None


def test_segment_metrics_hand_computed_mesaros_2016():
    """1-s segments over 0.1-s frames. Reference: a 0-2.5 s, b 1-3 s; system: a 0-1.2 s, c 2-3 s.
    Segment 0: ref {a}, sys {a}; 1: ref {a, b}, sys {a}; 2: ref {a, b}, sys {c}.
    TP 2, FP 1, FN 3 -> P 2/3, R 2/5, F1 = 4/8; per segment S = min(FN, FP), D, I: (0,0,0), (0,1,0),
    (1,1,0) over N = 5 -> S 0.2, D 0.4, I 0, ER 0.6."""
    classes = ["a", "b", "c"]
    ref = np.zeros((3, 30))
    pred = np.zeros((3, 30))
    ref[0, :25] = ref[1, 10:30] = 1.0
    pred[0, :12] = pred[2, 20:30] = 1.0
    m = metrics.segment_metrics([pred], [ref], classes, frame_seconds=0.1)
    assert m["segment_precision"] == pytest.approx(2 / 3)
    assert m["segment_recall"] == pytest.approx(0.4)
    assert m["segment_f1"] == pytest.approx(0.5)
    assert m["segment_error_rate"] == pytest.approx(0.6)
    assert (m["segment_substitution_rate"], m["segment_deletion_rate"], m["segment_insertion_rate"]) == \
        pytest.approx((0.2, 0.4, 0.0))
    assert m["segments"] == 3
    assert m["segment_f1_per_class"] == pytest.approx({"a": 0.8, "b": 0.0, "c": 0.0})
    assert m["segment_error_rate_per_class"]["a"] == pytest.approx(1 / 3)
    assert m["segment_error_rate_per_class"]["c"] is None
    silent = metrics.segment_metrics([np.zeros_like(pred)], [ref], classes, frame_seconds=0.1)
    assert silent["segment_f1"] == 0.0 and silent["segment_error_rate"] == pytest.approx(1.0)


def test_segment_metrics_equal_the_definitions_on_random_rolls():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    songs = [(rng.random((4, n)) < 0.15, rng.random((4, n)) < 0.2) for n in (50, 70)]  # 0.1-s frames
    m = metrics.segment_metrics([p.astype(float) for p, _ in songs], [r.astype(float) for _, r in songs], classes, 0.1)
    tp = fp = fn = s = d = i = n_ref = 0
    for p, r in songs:
        ps, rs = p.reshape(4, -1, 10).any(axis=2), r.reshape(4, -1, 10).any(axis=2)
        tp += np.sum(ps & rs)
        fp_k, fn_k = np.sum(ps & ~rs, axis=0), np.sum(~ps & rs, axis=0)
        fp += fp_k.sum()
        fn += fn_k.sum()
        s += np.minimum(fp_k, fn_k).sum()
        d += np.maximum(0, fn_k - fp_k).sum()
        i += np.maximum(0, fp_k - fn_k).sum()
        n_ref += rs.sum()
    assert m["segments"] == 12
    assert m["segment_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m["segment_error_rate"] == pytest.approx((s + d + i) / n_ref)
    assert m["segment_substitution_rate"] == pytest.approx(s / n_ref)


def test_song_reference_from_stems_with_unknown_instruments(tmp_path):
    from tfaudio.data import labels
    from tfaudio.config import FeatureConfig
    from tfaudio.spec import RunSpec

    sr = 44100
    piano = np.concatenate([fixtures.sine(440, 1.0, sr), fixtures.silence(1.0, sr)])
    kazoo = np.concatenate([fixtures.silence(0.5, sr), fixtures.sine(300, 1.0, sr, 0.1), fixtures.silence(0.5, sr)])
    _song(tmp_path / "s", {"Piano": piano, "kazoo": kazoo}, sr=sr)
    rec, = datasets.from_stems(tmp_path)
    spec = RunSpec("activation", ("flute", "piano"), FeatureConfig(), 15360)
    reference, playing, info = songs.song_reference(rec, spec, mix=piano + kazoo)
    expect = labels.activations(piano[None], 2048, 1024).numpy()[0]
    assert reference.shape == (2, 1 + len(piano) // 1024)
    np.testing.assert_allclose(reference[1], expect, atol=1e-6)
    assert not reference[0].any()
    assert info["instruments"] == ["piano"] and info["unknown_instruments"] == ["kazoo"]
    assert info["mix_residual_db"] < -100
    t = np.arange(reference.shape[1]) * 1024 / sr
    assert (playing[(t > 0.1) & (t < 0.4)] == 1).all()  # piano alone
    assert (playing[(t > 0.6) & (t < 0.9)] == -1).all()  # piano and the unknown kazoo
    assert (playing[t > 1.9] == -1).all()  # silence


# --- rendered songs -----------------------------------------------------------------------------

def test_render_songs_deterministic_with_stems_that_sum_to_the_mix(tmp_path):
    from tfaudio.data import labels

    a = multitrack.render_songs(tmp_path / "a", n_songs=2, seconds=4.0, seed=5, progress=False)
    multitrack.render_songs(tmp_path / "b", n_songs=2, seconds=4.0, seed=5, progress=False)
    c = multitrack.render_songs(tmp_path / "c", n_songs=1, seconds=4.0, seed=6, progress=False)
    files = sorted(p.relative_to(a[0].parent) for p in a[0].parent.rglob("*") if p.is_file())
    assert len(files) == 2 * 6  # mix.wav, song.json and 4 stems per song
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (c[0] / "mix.wav").read_bytes() != (a[0] / "mix.wav").read_bytes()
    poly = np.zeros(5, int)
    for song in a:
        meta = json.loads((song / "song.json").read_text())
        assert len({i["name"] for i in meta["instruments"]}) == 4
        mix, sr = sf.read(song / "mix.wav", dtype="float32")
        assert sr == SR and len(mix) == 4 * SR and 0.85 < np.abs(mix).max() <= 0.9 + 1e-6
        stems = [sf.read(song / i["stem"], dtype="float32")[0] for i in meta["instruments"]]
        total = np.zeros_like(mix)
        for s in stems:
            total += s
        assert np.array_equal(total, mix)  # stems in turn, in float32: the mix bit for bit
        # the schedule: 1, 2, 3, 4, 3, 2, 1 instruments at once
        t = np.linspace(0, 4, 400, endpoint=False)
        on = np.array([(t >= i["start"]) & (t < i["end"]) for i in meta["instruments"]]).sum(axis=0)
        assert set(on) == {1, 2, 3, 4}
        acts = labels.activations(np.stack(stems), 2048, 1024).numpy()
        poly += np.bincount((acts > 0).sum(axis=0), minlength=5)
    assert (poly[1:] > 0).all()  # audible (above -60 dB) frames with 1, 2, 3 and 4 instruments
    recs = datasets.from_stems(tmp_path / "a")
    assert len(recs) == 2 and all(len(r.labels) == 4 for r in recs)
    with pytest.raises(TfaudioError, match="exists"):
        multitrack.render_songs(tmp_path / "a", n_songs=1, seconds=1.0, progress=False)


# --- the command line, end to end ---------------------------------------------------------------

@pytest.mark.slow  # ~40 s with the tiny training run
def test_evaluate_a_run_on_rendered_songs_with_stems(activation_run, tmp_path, capsys):
    songs, report = tmp_path / "songs", tmp_path / "report"
    assert cli.main(["corpus", "render", str(songs), "--songs", "2", "--song-seconds", "3", "--seed", "1"]) == 0
    assert len(datasets.from_stems(songs)) == 2
    capsys.readouterr()
    assert cli.main(["evaluate", str(activation_run), "--data", str(songs), "--format", "stems",
                     "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert "2 song(s)" in out and "all songs" in out and "AUC-ROC" in out and "segment (1 s) F1" in out
    m = json.loads((report / "metrics.json").read_text())
    assert m["data_format"] == "stems" and m["n_examples"] == 2 and m["split"] is None
    assert m["frames"] == 2 * (1 + 3 * 44100 // 1024)
    for key in ("auc_roc_macro", "map", "lrap", "segment_f1", "frame_f1"):
        assert 0 <= m[key] <= 1, key
    assert m["segment_error_rate"] >= 0 and 0 < m["bce"] < 5
    assert all(v is None or 0 <= v <= 1 for v in m["auc_roc"].values())
    assert set(m["polyphony_frames"]) >= {"1", "2", "3"}
    for key in ("noise_matrix_db", "leakage_matrix_db"):
        a = np.array(m[key], dtype=float)
        assert a.shape == (8, 8) and np.isfinite(a).any()
        assert np.nanmax(a) <= 0 and np.nanmin(a) >= -60
    assert all(s["mix_residual_db"] < -60 for s in m["per_song"])
    for png in ("noise_matrix.png", "leakage_matrix.png", "example_0.png", "example_1.png", "per_class_auc.png",
                "per_class_ap.png", "training_curves.png"):
        assert (report / png).stat().st_size > 1000, png


def test_polyphonic_detection_counts_found_instruments_where_several_play():
    from tfaudio.evaluation.metrics import polyphonic_detection

    ref = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    pred = np.array([[0.9, 0.9, 0.2, 0.0], [0.0, 0.6, 0.7, 0.0], [0.0, 0.0, 0.8, 0.9]])
    m = polyphonic_detection(pred, ref, 0.5)
    # frames 1 (a, b) and 2 (a, b, c) have >= 2 playing: found a, b in 1; b, c in 2 -> 4 of 5
    assert m["polyphonic_recall"] == pytest.approx(4 / 5)
    assert m["polyphonic_frames_all_found"] == pytest.approx(1 / 2)
    assert m["solo_recall"] == 1.0 and m["solo_frames_all_found"] == 1.0
