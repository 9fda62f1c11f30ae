"""benchmarks/transfer.py: the leave-one-SoundFont-out folds, the linear probe, per-file means, the `stats`
embedder (librosa's numbers), and the activations task's frame probe (mixes of the other SoundFonts only,
scored on the held-out songs) and table."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tfaudio.data.records import Record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def transfer():
    spec = importlib.util.spec_from_file_location("transfer", ROOT / "benchmarks" / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["transfer"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("transfer", None)


def _records(soundfonts):
    return [Record(f"clip{i}.wav", ("flute",), "training", {"soundfont": sf}) for i, sf in enumerate(soundfonts)]


def test_each_fold_holds_out_one_soundfont_whole(transfer):
    sfs = ["timgm6mb", "gmbank", "opl3", "merlin", "gmbank", "opl3", "timgm6mb", "merlin", "merlin"]
    records = _records(sfs)
    folds = list(transfer.loso_folds(records, transfer.SOUNDFONTS))
    assert [held for held, _, _ in folds] == list(transfer.SOUNDFONTS)
    for held, train, test in folds:
        assert {sfs[i] for i in test} == {held} and len(test) == sfs.count(held)
        assert held not in {sfs[i] for i in train}
        assert sorted(np.concatenate([train, test])) == list(range(len(sfs)))


def test_training_only_sources_join_every_fold_and_are_never_held_out(transfer):
    sfs = ["timgm6mb", "gmbank", "opl3", "merlin", "freepats", "freepats", "opl3"]
    folds = list(transfer.loso_folds(_records(sfs), transfer.SOUNDFONTS, train_only=["freepats"]))
    assert [held for held, _, _ in folds] == list(transfer.SOUNDFONTS)
    for held, train, test in folds:
        assert {sfs[i] for i in test} == {held}
        assert {sfs[i] for i in train} == set(transfer.SOUNDFONTS) - {held} | {"freepats"}
    without = dict((h, tr) for h, tr, _ in transfer.loso_folds(_records(sfs), transfer.SOUNDFONTS))
    assert all("freepats" not in {sfs[i] for i in tr} for tr in without.values())  # only when asked


def test_a_missing_soundfont_is_refused(transfer):
    with pytest.raises(SystemExit, match="merlin"):
        list(transfer.loso_folds(_records(["timgm6mb", "gmbank", "opl3"]), transfer.SOUNDFONTS))
    with pytest.raises(SystemExit, match="no soundfont"):
        transfer.soundfont_of(Record("x.wav", ("flute",)))


def test_probe_and_per_file_means(transfer):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 5)) + 4 * np.eye(3, 5)[y]
    assert (transfer.fit_probe(x, y).predict(x) == y).mean() > 0.95
    multi = transfer.fit_probe(x, np.eye(3)[y], multilabel=True).predict_proba(x)
    assert multi.shape == (60, 3) and not np.allclose(multi.sum(axis=1), 1.0)  # each class its own probability
    means = transfer.mean_per_file(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(means, [[0.5, 0.5], [0.5, 0.5]])


def test_stats_are_librosas_mfcc_and_log_mel_statistics(transfer):
    librosa = pytest.importorskip("librosa")
    embedder = transfer.stats_embedder(1.0)
    t = np.arange(embedder.window) / embedder.sr
    y = (0.3 * np.sin(2 * np.pi * (220 * t + 300 * t ** 2)) * np.exp(-t)).astype(np.float32)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=embedder.sr, n_fft=2048, hop_length=512))
    x = np.concatenate([librosa.feature.mfcc(y=y, sr=embedder.sr, n_mfcc=20), mel]).T
    expected = np.concatenate([x.mean(axis=0), x.std(axis=0)])
    got = embedder.fn(y[None])
    assert got.shape == (1, 296)
    np.testing.assert_allclose(got[0], expected, atol=2e-3 * np.abs(expected).max())


def _write_tone(path, freq, start, end, seconds, sr=16000, amp=0.3):
    import soundfile

    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t) * ((t >= start) & (t < end))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, y.astype(np.float32), sr)
    return y


@pytest.fixture
def tiny_activations(tmp_path):
    """Two instruments (a low and a high tone), two SoundFonts ("a" and "b"): two 0.5-s solo clips each, and
    one 1.5-s song with stems per SoundFont in which they play alone, then together, then alone."""
    freqs = {"flute": 440.0, "violin": 1760.0}
    clips = []
    for sf, detune in (("a", 1.0), ("b", 1.06)):
        for cls, f in freqs.items():
            for i in range(2):
                path = tmp_path / "clips" / f"{sf}_{cls}_{i}.wav"
                _write_tone(path, f * detune * (1 + 0.01 * i), 0.0, 1.0, 0.5)
                clips.append(Record(str(path), (cls,), "training", {"soundfont": sf}))
        song = tmp_path / "songs" / sf / "song_000"
        mix = _write_tone(song / "stems" / "flute.wav", freqs["flute"] * detune, 0.0, 1.0, 1.5)
        mix = mix + _write_tone(song / "stems" / "violin.wav", freqs["violin"] * detune, 0.5, 1.5, 1.5)
        import soundfile

        soundfile.write(song / "mix.wav", mix.astype(np.float32), 16000)
    return clips, sorted(freqs), tmp_path


def test_activation_probe_trains_on_the_other_soundfonts_and_scores_the_held_out_songs(transfer, tiny_activations,
                                                                                      monkeypatch):
    from tfaudio.data import mixing

    clips, classes, root = tiny_activations
    songs = transfer.load_songs(str(root / "songs" / "{sf}"), ("a", "b"))
    pooled = []
    real_pool = mixing.window_pool
    monkeypatch.setattr(mixing, "window_pool",
                        lambda records, *a, **k: pooled.append({r.meta["soundfont"] for r in records})
                        or real_pool(records, *a, **k))
    embedder = transfer.stats_frames_embedder(window=4096)  # 17 frames a window
    args = (embedder, clips, classes, songs, ("a", "b"), root / "cache", "tiny", 40, 8)
    row = transfer.activation_probe_folds(*args)
    assert pooled == [{"b"}, {"a"}]  # held out a: mixes of b's clips only, and the reverse
    for sf in ("a", "b"):
        fold = row["folds"][sf]
        assert fold["lrap"] > 0.9 and fold["polyphonic_recall"] > 0.5, fold
        assert fold["n_files"] == 1 and row["training"][sf]["train_frames"] == 40 * 8
    again = transfer.activation_probe_folds(*args)  # from the cache: the same numbers, no mixing
    assert len(pooled) == 2 and again["seconds"]["embed"] == 0 and again["folds"] == row["folds"]


def test_activations_table_shows_lrap_and_polyphonic_recall_worst_by_lrap(transfer):
    folds = {"a": {"lrap": 0.8, "polyphonic_recall": 0.3}, "b": {"lrap": 0.6, "polyphonic_recall": 0.5},
             "c": {"lrap": 0.9, "polyphonic_recall": 0.1, "role": "trained"}}
    row = {"folds": folds}
    transfer.add_worst_mean("activations", row)
    assert row["worst_soundfont"] == "b" and row["worst_polyphonic_recall"] == 0.5
    assert row["mean"] == pytest.approx(0.7) and row["mean_polyphonic_recall"] == pytest.approx(0.4)
    md = transfer.table("activations", {"probe": row}, ("a", "b", "c"))
    assert ("| probe | 0.800 / 0.300 | 0.600 / 0.500 | 0.900 / 0.100 (trained) | 0.600 / 0.500 (b) "
            "| 0.700 / 0.400 |") in md
