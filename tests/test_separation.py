"""`tfaudio.separation`: activation-informed NMF stems (issue 25)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.fixtures import instrument, write_audio
from tfaudio.errors import TfaudioError
from tfaudio.separation import REST, SeparationConfig, Separator
from tfaudio.separation.metrics import separation_metrics
from tfaudio.separation.templates import instrument_templates

SR = 22050
CLASSES = ("clarinet", "piano")
#: Small enough to learn in seconds: 3 phrases of 2 s per instrument at 22.05 kHz.
SMALL = SeparationConfig(components=6, iterations=30, template_sr=SR, template_phrases=3, template_seconds=2.0,
                         dilate_seconds=0.1)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return instrument_templates(CLASSES, SMALL, cache=tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="module")
def song():
    """Clarinet alone 0-1.5 s, both 1.5-2.5 s, piano alone 2.5-4 s; true activations at a 0.05-s hop."""
    a = instrument("clarinet", 4.0, SR, seed=21)
    b = instrument("piano", 4.0, SR, seed=22)
    a[int(2.5 * SR):] = 0
    b[:int(1.5 * SR)] = 0
    times = np.arange(81) * 0.05
    acts = np.stack([(times < 2.5), (times >= 1.5)]).astype(np.float32)
    return np.stack([a, b]), a + b, acts, times


def _sep(templates, guidance, **kw):
    return Separator(None, dataclasses.replace(SMALL, guidance=guidance, **kw), classes=CLASSES, templates=templates)


@pytest.mark.parametrize("penalty", [None, 4.0])
def test_guided_separation_beats_plain_nmf_on_each_stem(templates, song, penalty):
    refs, mix, acts, times = song
    plain = _sep(templates, "none").separate(mix, SR)
    guided = _sep(templates, "given", penalty=penalty).separate(mix, SR, acts, times)
    sdr_plain = separation_metrics(refs, plain.stems)["sdr"]
    sdr_guided = separation_metrics(refs, guided.stems)["sdr"]
    assert np.all(sdr_guided > sdr_plain) and np.mean(sdr_guided - sdr_plain) > 1.0, (sdr_plain, sdr_guided)
    assert guided.names == CLASSES and guided.stems.shape == (2, len(mix)) and guided.sr == SR
    if penalty is None:  # hard gates: where the activations say silent, the stem is (almost) silent
        assert np.abs(guided.stem("piano")[:int(1.0 * SR)]).max() < 1e-3 * np.abs(mix).max()


@pytest.mark.parametrize("guidance,penalty", [("none", None), ("given", None), ("given", 4.0)])
def test_stems_add_up_to_the_mix_and_blocks_equal_the_whole(templates, song, guidance, penalty):
    _, mix, acts, times = song
    whole = _sep(templates, guidance, penalty=penalty).separate(mix, SR, acts, times)
    blocks = _sep(templates, guidance, penalty=penalty, block_seconds=0.7).separate(mix, SR, acts, times)
    np.testing.assert_allclose(whole.stems.sum(axis=0), mix, atol=1e-5)
    np.testing.assert_allclose(blocks.stems.sum(axis=0), mix, atol=1e-5)
    np.testing.assert_allclose(blocks.stems, whole.stems, atol=1e-4)


def test_stereo_file_keeps_rate_length_and_channels(templates, song, tmp_path):
    _, mix, _, _ = song
    rate = 16000
    x = np.stack([mix[:rate * 2], 0.5 * mix[:rate * 2]], axis=1)[:31999]  # any length, another rate
    path = write_audio(tmp_path / "st.wav", x, rate, subtype="FLOAT")
    r = _sep(templates, "none").separate(path)
    assert r.sr == rate and r.stems.shape == (2, len(x), 2) and r.source == str(path)
    np.testing.assert_allclose(r.stems.sum(axis=0), x, atol=1e-5)


def test_a_subset_of_instruments_adds_a_rest_stem(templates, song):
    _, mix, acts, times = song
    sep = Separator(None, dataclasses.replace(SMALL, guidance="given"), instruments=["Piano"], classes=CLASSES,
                    templates=templates)
    r = sep.separate(mix, SR, acts, times)
    assert r.names == ("piano", REST)
    np.testing.assert_allclose(r.stems.sum(axis=0), mix, atol=1e-5)


def test_templates_are_cached(templates, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp()
    cached = sorted(folder.rglob("separation/templates-*.npz"))
    assert len(cached) >= 2
    again = instrument_templates(CLASSES, SMALL, cache=cached[0].parent.parent)
    np.testing.assert_array_equal(again.W, templates.W)
    assert templates.W.shape == (2, SMALL.n_fft(SR) // 2 + 1, SMALL.components)
    np.testing.assert_allclose(templates.W.sum(axis=1), 1.0, rtol=1e-4)


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_bad_input_is_one_line_naming_the_path_and_problem(templates, tmp_path):
    sep = _sep(templates, "none")
    missing = tmp_path / "missing.wav"
    with pytest.raises(TfaudioError) as e:
        sep.separate(missing)
    assert _one_line(e).startswith(f"{missing}: ") and "not found" in str(e.value)
    notaudio = tmp_path / "notes.wav"
    notaudio.write_text("not audio at all, just text\n" * 20)
    with pytest.raises(TfaudioError) as e:
        sep.separate(notaudio)
    assert _one_line(e).startswith(f"{notaudio}: ")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(TfaudioError) as e:
        sep.separate(empty)
    assert _one_line(e).startswith(f"{empty}: ")
    with pytest.raises(TfaudioError, match="NaN or Inf"):
        sep.separate(np.full(100, np.nan, np.float32), SR)
    with pytest.raises(TfaudioError, match="sample rate"):
        sep.separate(np.zeros(100, np.float32))
    with pytest.raises(TfaudioError, match="shape"):
        sep.separate(np.zeros((2, 3, 4), np.float32), SR)
    with pytest.raises(TfaudioError, match="not one of the model's"):
        Separator(None, SMALL, instruments=["tuba"], classes=CLASSES, templates=templates)
    with pytest.raises(TfaudioError, match="do not match"):
        _sep(templates, "given").separate(np.zeros(SR, np.float32), SR, np.zeros((2, 5)), np.arange(4))
    with pytest.raises(TfaudioError, match="not a class of the built-in corpus"):
        instrument_templates(("kazoo",), SMALL, cache=tmp_path)
    with pytest.raises(TfaudioError, match="separation.iterations"):
        SeparationConfig(iterations=0)


@pytest.mark.slow
def test_separate_command_with_the_pretrained_model(tmp_path, monkeypatch, capsys, song):
    """`tfaudio separate activations AUDIO... --out DIR`: stems at the input's rate, length and channels that
    add up to it, the activations and the config; a bad file is one line and the others go on."""
    from tfaudio import cli

    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "cache"))
    _, mix, _, _ = song
    x = np.stack([mix, -mix], axis=1)[:int(2.5 * SR)]
    good = write_audio(tmp_path / "in" / "song.wav", x, SR, subtype="FLOAT")
    bad = tmp_path / "in" / "bad.wav"
    bad.write_text("nope")
    out = tmp_path / "stems"
    args = ["separate", "activations", str(good), str(bad), "--out", str(out), "--iterations", "20",
            "--instruments", "piano,clarinet"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tfaudio: error: {bad}: ")
    import soundfile as sf

    folder = out / "song"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "activations.npy", "clarinet.wav", "piano.wav", "rest.wav", "separation.json"]
    stems = [sf.read(folder / n, dtype="float32", always_2d=True) for n in ("piano.wav", "clarinet.wav", "rest.wav")]
    assert all(r == SR and y.shape == x.shape for y, r in stems)
    np.testing.assert_allclose(sum(y for y, _ in stems), x, atol=1e-5)
    info = json.loads((folder / "separation.json").read_text())
    assert info["config"]["iterations"] == 20 and info["stems"]["piano"] == "piano.wav"
    acts = np.load(folder / "activations.npy")
    assert acts.shape == (8, info["activations"]["shape"][1]) and acts.shape[1] > 0
    # again without --overwrite: refused in one line, the stems left as they were
    assert cli.main(args) == 1
    assert "exists" in capsys.readouterr().err


def test_evaluate_separation_three_modes_on_rendered_songs(tmp_path):
    from tfaudio.data.multitrack import render_songs
    from tfaudio.separation import evaluate_separation

    render_songs(tmp_path / "songs", n_songs=1, seconds=3.0, instruments=["clarinet", "piano"], sr=SR, seed=3,
                 progress=False)
    m = evaluate_separation("activations", tmp_path / "songs", dataclasses.replace(SMALL, iterations=20),
                            cache=tmp_path / "cache")
    assert list(m["modes"]) == ["plain", "predicted", "true"] and m["n_songs"] == 1
    for mode in m["modes"].values():
        assert set(mode["per_instrument"]) == set(CLASSES)
        assert all(np.isfinite(mode["mean"][k]) for k in ("sdr", "sir", "sar"))
    rows = m["per_song"]
    assert [r["mode"] for r in rows] == ["plain", "predicted", "true"]
    assert all(sorted(r["instruments"]) == sorted(CLASSES) and len(r["sdr"]) == 2 for r in rows)
    assert rows[0]["sdr"] != rows[2]["sdr"]  # the guidance changes the stems


def test_the_one_call_is_tfaudio_separate():
    import tfaudio
    import tfaudio.separation

    assert tfaudio.separate is tfaudio.separation.separate and "separate" in dir(tfaudio)
