"""Bad input through the commands users type (`tfaudio predict`, `data summary`, `train`) and the library.

The rule under test: every bad input gives ONE line naming the file and the problem (the CLI prints
``tfaudio: error: PATH: problem`` on stderr), never a traceback; the command's other inputs are still
processed; nothing already written is lost. The same file gets the same problem text from
`tfaudio.io.audio.load`, from `tfaudio predict` and from `tfaudio data summary`.

One tiny activation run is trained per module (as in test_commands.py); all audio is <= 1 s.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import fixtures
from tfaudio import cli
from tfaudio.data import datasets, records
from tfaudio.io import headers, outputs
from tfaudio.io.audio import load
from tfaudio.errors import AudioFileError

ERR = "tfaudio: error: "
TINY = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1",
        "train.batch_size=4", "train.verbose=0", "mix.n_max=2"]
HAS_MP3 = "MP3" in sf.available_formats()


def _sets(items):
    return sum([["--set", s] for s in items], [])


# ------------------------------------------------------------------------------------------- helpers


def call(argv) -> tuple[int, str, str]:
    """`cli.main(argv)` with its stdout and stderr captured (usable from module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def run_cli(capsys, argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def error_lines(err: str) -> list[str]:
    """The `tfaudio: error:` lines of stderr; stderr must hold nothing else (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith(ERR) for line in lines), err
    return lines


def problems_by_file(err: str, paths) -> dict[str, str]:
    """Exactly one stderr line ``tfaudio: error: PATH: problem`` per path (and no other); their problems."""
    lines = error_lines(err)
    assert len(lines) == len(paths), err
    problems = {}
    for p in map(str, paths):
        hits = [line for line in lines if line.startswith(f"{ERR}{p}: ")]
        assert len(hits) == 1, (p, err)
        problems[p] = hits[0][len(f"{ERR}{p}: "):]
        assert problems[p].strip(), p
    return problems


def summary_skipped(out: str) -> dict[str, str]:
    """`tfaudio data summary` text output -> {skipped path: problem} (the ``skipped N file(s):`` list)."""
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("skipped ") and line.endswith("file(s):")]
    if not heads:
        return {}
    n = int(lines[heads[0]].split()[1])
    items = lines[heads[0] + 1: heads[0] + 1 + n]
    assert len(items) == n and all(item.startswith("  ") for item in items), out
    return dict(item[2:].split(": ", 1) for item in items)


def summary_skipped_for(out: str, paths) -> dict[str, str]:
    """The problem the summary lists for each of `paths` (exactly one line each)."""
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    problems = {}
    for p in map(str, paths):
        hits = [line for line in lines if line.startswith(f"  {p}: ")]
        assert len(hits) == 1, (p, out)
        problems[p] = hits[0][len(f"  {p}: "):]
    return problems


def summary_total(out: str) -> int:
    """The grand total of kept files from the summary table."""
    rows = [line for line in out.splitlines() if line.startswith("total ")]
    assert len(rows) == 1, out
    return int(rows[0].split()[-1])


def wav_with_data_chunk(declared: int, present: int, sr: int = 44100) -> bytes:
    """A 16-bit mono PCM WAV whose data chunk header declares `declared` bytes, followed by `present` bytes."""
    fmt = struct.pack("<HHIIHH", 1, 1, sr, 2 * sr, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", declared)
            + bytes(range(256)) * (present // 256) + bytes(present % 256))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decoded_frames(path) -> tuple[int, int]:
    """(frames soundfile decodes, sample rate)."""
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return len(y), sr


def expected_frames(path, spec) -> int:
    """Activation frames of a file: centred framing of the audio resampled to the run's rate."""
    n, sr = decoded_frames(path)
    return 1 + math.ceil(n * spec["sr"] / sr) // spec["hop_length"]


def check_activation_outputs(out_dir: Path, stem: str, path, spec) -> np.ndarray:
    """`STEM.npy` and `STEM.csv` exist and fit the file's duration; returns the activations."""
    a = np.load(out_dir / f"{stem}.npy")
    assert a.shape == (len(spec["classes"]), expected_frames(path, spec)), (stem, a.shape)
    assert np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 1, stem
    rows = (out_dir / f"{stem}.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == ",".join(["time", *spec["classes"]]) and len(rows) == a.shape[1] + 1, stem
    return a


def snapshot(folder: Path) -> dict[str, bytes]:
    """The outputs in `folder` (all but its manifest, which `outputs_listed` checks)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != outputs.MANIFEST}


def outputs_listed(folder: Path) -> list[str]:
    """The files `folder`'s manifest lists, each checked against its size and SHA-256."""
    files = json.loads((folder / outputs.MANIFEST).read_text())["files"]
    for name, entry in files.items():
        data = (folder / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    return sorted(files)


def no_temporary_files(folder: Path) -> bool:
    """No hidden file but the manifest (no temporary file or folder left)."""
    return not [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != outputs.MANIFEST]


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def run(activation_run):
    """The session's tiny activation run (tests/conftest.py), read only."""
    return activation_run


@pytest.fixture(scope="module")
def spec(run):
    d = json.loads((run / "run.json").read_text())
    return {"classes": d["classes"], "sr": d["features"]["sr"], "hop_length": d["features"]["hop_length"]}


@pytest.fixture(scope="module")
def model_spec(run):
    from tfaudio.deploy.loading import open_run

    return open_run(run)


# Damaged inputs, and words the problem each is reported with must hold.
DAMAGED = {
    "empty": ("empty", "0 bytes"),
    "truncated": ("truncated", "declares 88200 bytes", "1000 present"),
    "huge_header": ("truncated", "declares 4294967280 bytes", "1000 present"),
    "text": ("not a", "audio file"),
    "nan": ("NaN or Inf",),
    "directory": ("is a directory",),
    "missing": ("not found",),
}
FILE_KINDS = ("empty", "truncated", "huge_header", "text", "nan")  # the ones a folder scan can meet
HEADER_KINDS = ("empty", "truncated", "huge_header", "text")  # found without decoding


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """base/data/{piano,violin}/ (a folder data set: 2 good files and the damaged files), a folder and a
    missing path under base/other/, and base/manifest.csv naming all of them."""
    base = tmp_path_factory.mktemp("damaged").resolve()
    data = base / "data"
    good = fixtures.write_audio(data / "piano" / "good.wav", fixtures.sine(seconds=0.5), 22050, "PCM_16")
    fine = fixtures.write_audio(data / "violin" / "fine.flac", fixtures.sine(330, 0.7), 22050, "PCM_16")
    paths = {k: data / "piano" / f"{k}.wav" for k in FILE_KINDS}
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(wav_with_data_chunk(88200, 1000))
    paths["huge_header"].write_bytes(wav_with_data_chunk(0xFFFFFFF0, 1000))
    paths["text"].write_text("This is a text file, not audio.\n" * 20)
    y = fixtures.sine(seconds=0.3)
    y[100], y[200] = np.nan, np.inf
    fixtures.write_audio(paths["nan"], y, 22050, "FLOAT")
    paths["directory"] = base / "other" / "a folder.wav"
    paths["directory"].mkdir(parents=True)
    paths["missing"] = base / "other" / "missing.wav"
    rows = ["path,label"] + [f"{p.relative_to(base).as_posix()},piano" for p in [good, *paths.values()]]
    rows.append(f"{fine.relative_to(base).as_posix()},violin")
    manifest = base / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return dict(base=base, data=data, good=good, fine=fine, paths=paths, manifest=manifest)


@pytest.fixture(scope="module")
def damaged_predict(run, damaged, tmp_path_factory):
    """`tfaudio predict` on good and damaged files interleaved: (rc, stdout, stderr, out folder)."""
    out = tmp_path_factory.mktemp("pred-damaged") / "out"
    p = damaged["paths"]
    files = [damaged["good"], p["empty"], p["truncated"], p["huge_header"], p["text"], p["nan"], p["directory"],
             p["missing"], damaged["fine"]]
    rc, stdout, stderr = call(["predict", run, *files, "--out", out])
    return rc, stdout, stderr, out


@pytest.fixture(scope="module")
def damaged_problems(damaged, damaged_predict):
    """{kind: the problem `tfaudio predict` printed for it} (exactly one line each)."""
    problems = problems_by_file(damaged_predict[2], damaged["paths"].values())
    return {k: problems[str(p)] for k, p in damaged["paths"].items()}


# ------------------------------------------------------------------------ 1. damaged and odd files


def test_predict_good_and_damaged_files(damaged, damaged_predict, damaged_problems, spec):
    rc, stdout, stderr, out = damaged_predict
    assert rc == 1
    assert len(error_lines(stderr)) == len(DAMAGED)  # one line per damaged file, nothing else
    assert f"{len(DAMAGED)} of {len(DAMAGED) + 2} file(s) failed" in stdout
    # the good files before and after the damaged ones are predicted and written
    for stem, path in (("good", damaged["good"]), ("fine", damaged["fine"])):
        check_activation_outputs(out, stem, path, spec)
        assert any(line.startswith(f"{path}: ") and f"{stem}.npy" in line for line in stdout.splitlines())
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "fine.csv", "fine.npy", "good.csv", "good.npy"]
    assert outputs_listed(out) == ["fine.csv", "fine.npy", "good.csv", "good.npy"]


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_predict_names_the_problem(damaged_problems, kind):
    problem = damaged_problems[kind]
    assert all(words in problem for words in DAMAGED[kind]), problem
    assert "\n" not in problem and "node" not in problem and "Traceback" not in problem


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_load_gives_the_same_problem_as_predict(damaged, damaged_problems, kind):
    path = damaged["paths"][kind]
    with pytest.raises(AudioFileError) as info:
        load(path)
    e = info.value
    assert e.path == str(path) and e.problem == damaged_problems[kind]
    assert str(e) == f"{path}: {damaged_problems[kind]}"
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)
    with pytest.raises(AudioFileError) as info:
        load(path, sr=16000, mono=False)  # resampling and channels change nothing
    assert info.value.problem == damaged_problems[kind]


@pytest.mark.parametrize("fmt, verify", [("folder", "header"), ("folder", "full"), ("csv", "header"),
                                         ("csv", "full")])
def test_data_summary_gives_the_same_problem_as_predict(damaged, damaged_problems, capsys, fmt, verify):
    kinds = FILE_KINDS if fmt == "folder" else tuple(DAMAGED)
    if verify == "header":  # NaN samples are found by decoding (--verify full) only
        kinds = tuple(k for k in kinds if k in HEADER_KINDS or k in ("directory", "missing"))
    root = damaged["data"] if fmt == "folder" else damaged["manifest"]
    rc, out, err = run_cli(capsys, ["data", "summary", root, "--format", fmt, "--verify", verify])
    assert rc == 0 and "Traceback" not in err
    skipped = summary_skipped(out)
    assert len(skipped) == len(kinds), out
    listed = summary_skipped_for(out, [damaged["paths"][k] for k in kinds])
    for k in kinds:
        assert listed[str(damaged["paths"][k])] == damaged_problems[k], k
    kept = 2 + (1 if "nan" not in kinds else 0)  # good.wav, fine.flac (and nan.wav, header checks only)
    assert summary_total(out) == kept
    assert str(damaged["good"]) not in skipped and str(damaged["fine"]) not in skipped


def test_data_summary_strict_stops_with_one_line(damaged, damaged_problems, capsys):
    rc, out, err = run_cli(capsys, ["data", "summary", damaged["data"], "--format", "folder", "--strict"])
    assert rc == 2 and out == ""
    (line,) = error_lines(err)
    first = damaged["paths"]["empty"]  # files are scanned in name order: empty.wav comes first
    assert line == f"{ERR}{first}: {damaged_problems['empty']}"


def test_huge_data_chunk_is_refused_quickly_without_allocating(damaged, model_spec):
    from tfaudio.inference import predict_file

    path = damaged["paths"]["huge_header"]
    assert path.stat().st_size < 2000  # declares 4 GB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    for read in (headers.check, load, lambda p: predict_file(*model_spec, p)):
        with pytest.raises(AudioFileError, match="truncated.*declares 4294967280 bytes, 1000 present"):
            read(path)
    assert "declares 4294967280 bytes" in records.check_file(path, "full")
    assert time.perf_counter() - t0 < 10
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grew_mib < 512, f"peak memory grew by {grew_mib:.0f} MiB"


# Valid files that must work: name -> (signal, rate, subtype, format). SAME: the same 0.5-s sine.
def _odd_specs() -> dict:
    y = fixtures.sine(seconds=0.5)
    six = np.stack([fixtures.sine(220 * (k + 1), 0.5, amp=0.3) for k in range(6)], 1)
    specs = {
        "ref_f32.wav": (y, 22050, "FLOAT", None),
        "pcm8.wav": (y, 22050, "PCM_U8", None),
        "pcm24.wav": (y, 22050, "PCM_24", None),
        "pcm32.wav": (y, 22050, "PCM_32", None),
        "f64.wav": (y, 22050, "DOUBLE", None),
        "six.wav": (six, 22050, "PCM_16", "WAVEX"),
        "six_downmix.wav": (six.mean(axis=1), 22050, "FLOAT", None),
        "rate8k.wav": (fixtures.sine(seconds=0.5, sr=8000), 8000, "PCM_16", None),
        "rate96k.wav": (fixtures.sine(seconds=0.5, sr=96000), 96000, "PCM_16", None),
        "short.wav": (fixtures.sine(seconds=0.1), 22050, "PCM_16", None),
        "silence.wav": (fixtures.silence(0.5), 22050, "PCM_16", None),
        "lossless.flac": (y, 22050, "PCM_16", None),
        "vorbis.ogg": (y, 22050, "VORBIS", None),
        "layer3.mp3": (y, 22050, "MPEG_LAYER_III", "MP3"),
        "mein Lied – ä.wav": (y, 22050, "PCM_16", None),
        "two  spaces and 'quotes'.wav": (y, 22050, "PCM_16", None),
    }
    return specs


ODD = list(_odd_specs())
SAME_SINE = [n for n in ODD if n not in ("six.wav", "six_downmix.wav", "short.wav", "silence.wav")]


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd").resolve() / "odd"
    files = {}
    for name, (y, sr, subtype, fmt) in _odd_specs().items():
        if fmt == "MP3" and not HAS_MP3:
            continue
        files[name] = fixtures.write_audio(folder / name, y, sr, subtype, fmt)
    return files


@pytest.fixture(scope="module")
def odd_predict(run, odd, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred-odd") / "out"
    rc, stdout, stderr = call(["predict", run, *odd.values(), "--out", out])
    return rc, stdout, stderr, out


def _odd(odd, name):
    if name not in odd:
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {name}")
    return odd[name]


def test_odd_files_are_what_they_claim(odd):
    six = sf.info(str(odd["six.wav"]))
    assert six.channels == 6 and odd["six.wav"].read_bytes()[20:22] == b"\xfe\xff"  # WAVE_FORMAT_EXTENSIBLE
    for name, subtype in (("pcm8.wav", "PCM_U8"), ("pcm24.wav", "PCM_24"), ("pcm32.wav", "PCM_32"),
                          ("f64.wav", "DOUBLE"), ("vorbis.ogg", "VORBIS")):
        assert sf.info(str(odd[name])).subtype == subtype, name
    assert sf.info(str(odd["rate96k.wav"])).samplerate == 96000


@pytest.mark.parametrize("name", ODD)
def test_valid_odd_file_predicts(odd, odd_predict, spec, name):
    path = _odd(odd, name)
    rc, stdout, stderr, out = odd_predict
    assert rc == 0 and error_lines(stderr) == []
    a = check_activation_outputs(out, Path(name).stem, path, spec)
    assert any(line.startswith(f"{path}: ") for line in stdout.splitlines())
    if name in SAME_SINE:  # the same sine in another encoding, rate or name: the same activations
        ref = np.load(out / "ref_f32.npy")
        np.testing.assert_allclose(a, ref, atol=0.02, err_msg=name)
    if name == "six.wav":  # six channels are averaged
        np.testing.assert_allclose(a, np.load(out / "six_downmix.npy"), atol=1e-3)


@pytest.mark.parametrize("name", ODD)
def test_valid_odd_file_loads(odd, name):
    path = _odd(odd, name)
    n, sr = decoded_frames(path)
    channels = sf.info(str(path)).channels
    y, rate = load(path)
    assert rate == sr and y.shape == (n,) and np.all(np.isfinite(y))
    if channels > 1:
        y, rate = load(path, mono=False)
        assert rate == sr and y.shape == (channels, n) and np.all(np.isfinite(y))
    y44, rate = load(path, sr=44100)
    assert rate == 44100 and y44.shape == (math.ceil(n * 44100 / sr),) and np.all(np.isfinite(y44))


def test_load_mono_file_with_mono_false_has_librosa_shape(odd):
    import librosa

    ref, _ = librosa.load(odd["pcm24.wav"], sr=None, mono=False)
    y, _ = load(odd["pcm24.wav"], mono=False)
    assert y.shape == ref.shape == (decoded_frames(odd["pcm24.wav"])[0],)


@pytest.mark.parametrize("verify", ["header", "full"])
def test_valid_odd_files_pass_data_summary(odd, capsys, verify):
    root = next(iter(odd.values())).parent.parent
    rc, out, err = run_cli(capsys, ["data", "summary", root, "--format", "folder", "--verify", verify])
    assert rc == 0 and "Traceback" not in err
    assert summary_skipped(out) == {} and summary_total(out) == len(odd)


# ------------------------------------------------------------------------- damaged compressed files


def _compressed(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    y = fixtures.sine(seconds=0.5)
    files = {}
    whole = fixtures.write_audio(folder / "whole.flac", y, 22050, "PCM_16").read_bytes()
    files["truncated.flac"] = folder / "truncated.flac"
    files["truncated.flac"].write_bytes(whole[: len(whole) // 2])
    files["header_only.flac"] = folder / "header_only.flac"
    files["header_only.flac"].write_bytes(whole[:60])
    whole = fixtures.write_audio(folder / "whole.ogg", y, 22050, "VORBIS").read_bytes()
    files["truncated.ogg"] = folder / "truncated.ogg"
    files["truncated.ogg"].write_bytes(whole[: len(whole) // 2])
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    files["junk.ogg"] = folder / "junk.ogg"
    files["junk.ogg"].write_bytes(b"OggS" + noise)
    files["junk.mp3"] = folder / "junk.mp3"
    files["junk.mp3"].write_bytes(b"ID3" + noise)
    for name in ("whole.flac", "whole.ogg"):
        (folder / name).unlink()
    return files


COMPRESSED = ["truncated.flac", "header_only.flac", "truncated.ogg", "junk.ogg", "junk.mp3"]


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    return _compressed(tmp_path_factory.mktemp("compressed").resolve() / "bad")


@pytest.fixture(scope="module")
def compressed_predict(run, compressed, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred-compressed") / "out"
    rc, stdout, stderr = call(["predict", run, *compressed.values(), "--out", out])
    return rc, stdout, stderr, out


def _load_problem(path) -> str:
    with pytest.raises(AudioFileError) as info:
        load(path)
    assert info.value.path == str(path) and "\n" not in str(info.value)
    return info.value.problem


def test_predict_damaged_compressed_files_one_line_each(compressed, compressed_predict):
    rc, stdout, stderr, out = compressed_predict
    assert rc == 1 and f"{len(compressed)} of {len(compressed)} file(s) failed" in stdout
    problems_by_file(stderr, compressed.values())
    assert not [p for p in out.iterdir() if p.suffix in (".npy", ".csv")]


@pytest.mark.parametrize("name", [
    pytest.param("truncated.flac"),
    "header_only.flac", "truncated.ogg", "junk.ogg",
    pytest.param("junk.mp3"),
])
def test_predict_and_load_agree_on_damaged_compressed_files(compressed, compressed_predict, name):
    path = compressed[name]
    predicted = problems_by_file(compressed_predict[2], compressed.values())[str(path)]
    assert predicted == _load_problem(path)


@pytest.mark.parametrize("name", COMPRESSED)
def test_data_summary_full_agrees_with_load_on_damaged_compressed_files(compressed, capsys, name):
    path = compressed[name]
    rc, out, err = run_cli(capsys, ["data", "summary", path.parent.parent, "--format", "folder", "--verify", "full"])
    assert rc == 0 and "Traceback" not in err
    assert summary_skipped_for(out, [path])[str(path)] == _load_problem(path)


def test_data_summary_header_check_agrees_with_load_on_damaged_compressed_files(compressed, capsys):
    rc, out, err = run_cli(capsys, ["data", "summary", next(iter(compressed.values())).parent.parent,
                                    "--format", "folder"])
    assert rc == 0 and "Traceback" not in err
    skipped = summary_skipped(out)
    assert skipped  # the header check finds most of them
    for path, problem in skipped.items():
        assert problem == _load_problem(path), path
        assert problem.count(Path(path).name) == 0, problem  # the path is said once, before the colon


def test_damaged_mp3_gives_only_one_stderr_line(run, tmp_path, capfd):
    files = _compressed(tmp_path / "bad")
    rc = cli.main(["predict", str(run), str(files["junk.mp3"]), "--out", str(tmp_path / "out")])
    captured = capfd.readouterr()
    assert rc == 1
    assert [line for line in captured.err.splitlines() if line.strip()] == error_lines(captured.err)
    assert len(error_lines(captured.err)) == 1


# ---------------------------------------------------------------------------------- 3. output paths


def test_out_is_an_existing_file(run, damaged, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    rc, out, err = run_cli(capsys, ["predict", run, damaged["good"], "--out", target])
    assert rc == 2 and out == ""
    (line,) = error_lines(err)
    assert line.startswith(f"{ERR}{target}: ") and "existing file" in line
    assert target.read_text() == "keep me\n"


def test_out_under_a_file(run, damaged, tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me\n")
    rc, out, err = run_cli(capsys, ["predict", run, damaged["good"], "--out", blocker / "sub"])
    assert rc == 2 and out == ""
    (line,) = error_lines(err)
    assert line.startswith(f"{ERR}{blocker / 'sub'}: ") and f"{blocker} is a file" in line
    assert blocker.read_text() == "keep me\n"


def test_same_file_name_in_two_folders(run, spec, tmp_path, capsys):
    a = fixtures.write_audio(tmp_path / "a" / "song.wav", fixtures.sine(seconds=0.3), 22050, "PCM_16")
    b = fixtures.write_audio(tmp_path / "b" / "song.wav", fixtures.sine(seconds=0.9), 22050, "PCM_16")
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, ["predict", run, a, b, "--out", out])
    assert rc == 0 and error_lines(err) == []
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "song.csv", "song.npy", "song_.csv", "song_.npy"]
    assert outputs_listed(out) == ["song.csv", "song.npy", "song_.csv", "song_.npy"]
    check_activation_outputs(out, "song", a, spec)  # each output holds its own file (its frame count)
    check_activation_outputs(out, "song_", b, spec)
    lines = stdout.splitlines()
    assert any(line.startswith(f"{a}: ") and str(out / "song.npy") in line for line in lines)
    assert any(line.startswith(f"{b}: ") and str(out / "song_.npy") in line for line in lines)


def test_second_predict_refuses_to_overwrite_then_overwrite_replaces(run, spec, tmp_path, capsys):
    x = fixtures.write_audio(tmp_path / "in" / "x.wav", fixtures.sine(seconds=0.5), 22050, "PCM_16")
    y = fixtures.write_audio(tmp_path / "in" / "y.wav", fixtures.sine(660, 0.3), 22050, "PCM_16")
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, ["predict", run, x, y, "--out", out])
    assert rc == 0 and error_lines(err) == []
    first = snapshot(out)
    assert sorted(first) == ["x.csv", "x.npy", "y.csv", "y.npy"] == outputs_listed(out)

    fixtures.write_audio(x, fixtures.sine(seconds=1.0), 22050, "PCM_16")  # x changes: 1 s now
    z = fixtures.write_audio(tmp_path / "in" / "z.wav", fixtures.sine(seconds=0.2), 22050, "PCM_16")
    rc, stdout, err = run_cli(capsys, ["predict", run, x, y, z, "--out", out])
    assert rc == 1 and "2 of 3 file(s) failed" in stdout
    problems = problems_by_file(err, [out / "x.npy", out / "y.npy"])
    assert all("exists" in p and "--overwrite" in p for p in problems.values())
    after = snapshot(out)
    assert {k: after[k] for k in first} == first  # the first outputs are byte-identical
    assert sorted(after) == sorted([*first, "z.csv", "z.npy"])  # the new file is still written
    check_activation_outputs(out, "z", z, spec)
    assert no_temporary_files(out) and outputs_listed(out) == sorted(after)

    rc, _, err = run_cli(capsys, ["predict", run, x, y, "--out", out, "--overwrite"])
    assert rc == 0 and error_lines(err) == []
    check_activation_outputs(out, "x", x, spec)  # now the 1-s file's frames
    assert np.load(out / "x.npy").shape[1] > np.load(io.BytesIO(first["x.npy"])).shape[1]
    np.testing.assert_allclose(np.load(out / "y.npy"), np.load(io.BytesIO(first["y.npy"])), atol=1e-6)
    assert snapshot(out)["z.npy"] == after["z.npy"]  # not named: untouched
    assert no_temporary_files(out)


# -------------------------------------------------------------------------------------- 4. configs


def _config_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    marker = tmp_path / "hacked"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'!!python/object/apply:os.system ["echo hacked > {marker}"]\n')
    listing = tmp_path / "list.yaml"
    listing.write_text("- neuroment_mel\n- epochs: 1\n")
    return {
        "unknown key": (["neuroment_mel", "--set", "train.nonesuch=1"], "unknown key(s) ['train.nonesuch']"),
        "unknown section": (["neuroment_mel", "--set", "nonesuch.x=1"], "unknown top-level key(s) ['nonesuch']"),
        "wrong type": (["neuroment_mel", "--set", "train.epochs=abc"], "train.epochs: expected int, got 'abc'"),
        "no value": (["neuroment_mel", "--set", "train.epochs"], "expected key=value"),
        "python tag": ([str(evil)], "not valid YAML"),
        "not a mapping": ([str(listing)], "expected a mapping at the top level"),
        "missing config": (["no_such_experiment"], "no_such_experiment: config file not found"),
    }


@pytest.mark.parametrize("case", ["unknown key", "unknown section", "wrong type", "no value", "python tag",
                                  "not a mapping", "missing config"])
def test_bad_config_is_one_line_and_creates_nothing(tmp_path, capsys, case):
    args, words = _config_cases(tmp_path)[case]
    out = tmp_path / "run"
    rc, stdout, err = run_cli(capsys, ["train", *args, "--out", out])
    assert rc == 2 and stdout == ""
    (line,) = error_lines(err)
    assert words in line
    assert not out.exists()
    assert not (tmp_path / "hacked").exists()  # the YAML tag ran nothing
    if case == "missing config":
        assert "neuroment_mel" in line  # it lists the configs there are


def test_config_that_is_not_utf8(tmp_path, capsys):
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes("name: café\ntask: activation\n".encode("latin-1"))
    rc, stdout, err = run_cli(capsys, ["train", cfg, "--out", tmp_path / "run"])
    assert rc == 2 and error_lines(err)[0].startswith(f"{ERR}{cfg}: ")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------ 5. manifests


@pytest.fixture
def escaping_manifest(tmp_path):
    base = tmp_path.resolve()
    root = base / "data"
    fixtures.write_audio(root / "piano" / "a.wav", fixtures.sine(seconds=0.2), 22050, "PCM_16")
    fixtures.write_audio(root / "violin" / "b.wav", fixtures.sine(330, 0.2), 22050, "PCM_16")
    outside = fixtures.write_audio(base / "outside.wav", fixtures.sine(seconds=0.2), 22050, "PCM_16")
    rows = ["path,label", "piano/a.wav,piano", "../outside.wav,piano", f"{outside},piano"]
    try:
        os.symlink(outside, root / "piano" / "link.wav")
        rows.append("piano/link.wav,piano")
    except OSError:  # no symlinks here: the two other escapes remain
        pass
    rows.append("violin/b.wav,violin")
    manifest = root / "M.csv"
    manifest.write_text("\n".join(rows) + "\n")
    # "M.csv:LINE" -> the path on that line, for the rows that escape the root
    escapes = {f"{manifest}:{i + 1}": row.split(",")[0] for i, row in enumerate(rows)
               if i and not row.startswith(("piano/a.wav", "violin/b.wav"))}
    return manifest, escapes, outside


def test_manifest_rows_escaping_the_root_are_refused(escaping_manifest, capsys):
    manifest, escapes, outside = escaping_manifest
    before = outside.read_bytes()
    rc, out, err = run_cli(capsys, ["data", "summary", manifest, "--format", "csv"])
    assert rc == 0 and "Traceback" not in err
    skipped = summary_skipped(out)  # "M.csv:LINE" -> "PATH: problem"
    assert sorted(skipped) == sorted(escapes)
    for where, rel in escapes.items():
        assert skipped[where].startswith(f"{rel}: path escapes the data-set root "), skipped[where]
        assert skipped[where].endswith("refused")
    assert summary_total(out) == 2  # a.wav and b.wav kept
    rc, out, err = run_cli(capsys, ["data", "summary", manifest, "--format", "csv", "--json"])
    report = json.loads(out)
    assert report["records"] == 2 and report["counts"] == {"all": {"piano": 1, "violin": 1}}
    assert len(report["skipped"]) == len(escapes)
    assert all("escapes the data-set root" in s["problem"] for s in report["skipped"])
    assert outside.read_bytes() == before


def test_manifest_escape_with_strict_is_one_line(escaping_manifest, capsys):
    manifest, escapes, _ = escaping_manifest
    rc, out, err = run_cli(capsys, ["data", "summary", manifest, "--format", "csv", "--strict"])
    assert rc == 2 and out == ""
    (line,) = error_lines(err)
    where, rel = next(iter(escapes.items()))
    assert line.startswith(f"{ERR}{where}: {rel}: ") and "escapes the data-set root" in line


@pytest.mark.parametrize("content", [
    pytest.param(b"path,label\n\xff\xfeaudio.wav,piano\n", id="not-utf8"),
    pytest.param(b"path,label\npiano/a.wav\x00,piano\n", id="nul-byte"),
])
def test_undecodable_manifest_is_one_line(tmp_path, capsys, content):
    fixtures.write_audio(tmp_path / "piano" / "a.wav", fixtures.sine(seconds=0.2), 22050, "PCM_16")
    manifest = tmp_path / "M.csv"
    manifest.write_bytes(content)
    rc, out, err = run_cli(capsys, ["data", "summary", manifest, "--format", "csv"])
    assert "Traceback" not in err
    if rc == 2:
        (line,) = error_lines(err)
        assert line.startswith(f"{ERR}{manifest}")
    else:
        assert rc == 0 and len(summary_skipped(out)) == 1


# ------------------------------------------------------------------------- other bad command lines


@pytest.mark.parametrize("value", [
    "0", "-1",
    pytest.param("nan"),
    pytest.param("inf"),
])
def test_bad_block_seconds_is_one_line(run, damaged, tmp_path, capsys, value):
    rc, _, err = run_cli(capsys, ["predict", run, damaged["good"], "--out", tmp_path / "out",
                                  "--block-seconds", value])
    assert rc in (1, 2)
    (line,) = error_lines(err)
    assert "block" in line
    assert not (tmp_path / "out" / "good.npy").exists()


@pytest.mark.parametrize("damage", [
    pytest.param("truncated best.keras"),
    pytest.param("--which a text file"),
    "--which a missing file",
])
def test_damaged_run_folder_is_one_line(run, damaged, tmp_path, capsys, damage):
    bad = tmp_path / "run"
    (bad / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "run.json", bad / "run.json")
    shutil.copy(run / "config.json", bad / "config.json")
    ckpt = (run / "checkpoints" / "best.keras").read_bytes()
    extra = []
    if damage == "truncated best.keras":
        (bad / "checkpoints" / "best.keras").write_bytes(ckpt[: len(ckpt) // 3])
        named = bad / "checkpoints" / "best.keras"
    else:
        (bad / "checkpoints" / "best.keras").write_bytes(ckpt)
        named = tmp_path / ("notes.keras.txt" if "text" in damage else "nonesuch.keras")
        if "text" in damage:
            named.write_text("not a model\n")
        extra = ["--which", named]
    rc, _, err = run_cli(capsys, ["predict", bad, damaged["good"], "--out", tmp_path / "out", *extra])
    assert rc == 2
    (line,) = error_lines(err)
    assert named.name in line


# -------------------------------------------------------------------- the real command, as users see it


@pytest.mark.slow
def test_real_command_prints_one_line_per_damaged_file(run, damaged, tmp_path):
    """`python -m tfaudio predict` in a fresh process: stderr holds exactly the error lines (no TensorFlow
    start-up chatter, no warnings, no traceback)."""
    p = damaged["paths"]
    bad = [p["truncated"], p["huge_header"], p["nan"], p["missing"]]
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "PYTEST"))}
    proc = subprocess.run([sys.executable, "-m", "tfaudio", "predict", str(run), str(damaged["good"]),
                           *map(str, bad), "--out", str(out)], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300)
    assert proc.returncode == 1, proc.stderr
    problems = problems_by_file(proc.stderr, bad)
    assert "declares 4294967280 bytes" in problems[str(p["huge_header"])]
    assert (out / "good.npy").is_file() and (out / "good.csv").is_file()


# ------------------------------------------------------------- SavedModels are programs (tfaudio.deploy.trust)


def _evil_saved_model(folder: Path, target: Path) -> Path:
    """A plain-TF SavedModel whose resource initializer writes `target` when it loads, with a tfaudio
    metadata.json copied into assets/ (so it looks like an export)."""
    import tensorflow as tf

    from tfaudio.deploy import metadata
    from tfaudio.config import FeatureConfig
    from tfaudio.spec import RunSpec

    class Evil(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.string)

        def _initialize(self):
            tf.io.write_file(str(target), "written by a SavedModel at load time")

    module = tf.Module()
    module.evil = Evil()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def serve(waveform):
        handle = tf.cast(tf.size(module.evil.resource_handle), tf.float32)
        return {"scores": tf.zeros([tf.shape(waveform)[0], 3]) + 0.0 * handle}

    module.serve = serve
    out = folder / "evil_model"
    tf.saved_model.save(module, str(out), signatures={"serving_default": serve.get_concrete_function()})
    feats = FeatureConfig(kind="log_mel", sr=16000, n_fft=512, hop_length=256, n_mels=16, fmax=8000)
    meta = metadata.metadata(RunSpec("single_label", ("piano", "violin", "flute"), feats, feats.window_samples(8)))
    (out / "assets").mkdir(exist_ok=True)
    (out / "assets" / "metadata.json").write_text(json.dumps(meta))
    target.unlink(missing_ok=True)
    return out


@pytest.fixture
def evil(tmp_path):
    target = tmp_path / "written-by-the-model.txt"
    return _evil_saved_model(tmp_path, target), target


@pytest.mark.parametrize("command", ["info", "predict", "evaluate"])
def test_a_saved_model_that_writes_a_file_is_refused_and_nothing_is_written(evil, damaged, tmp_path, capsys,
                                                                            command):
    model, target = evil
    before = {p for p in tmp_path.rglob("*")}
    argv = {"info": ["info", model],
            "predict": ["predict", model, damaged["good"], "--out", tmp_path / "pred"],
            "evaluate": ["evaluate", model, "--out", tmp_path / "report"]}[command]
    rc, out, err = run_cli(capsys, argv)
    assert rc == 2
    (line,) = error_lines(err)
    assert line.startswith(f"{ERR}{model}: ") and "'WriteFile'" in line and "--trust-model" in line
    assert not target.exists()
    assert {p for p in tmp_path.rglob("*")} == before  # nothing written: no file, no empty --out


def test_trust_model_skips_the_check(evil, capsys):
    """With --trust-model (trust=True) the user takes the SavedModel as it is, and it runs its code."""
    from tfaudio.deploy.loading import open_model
    from tfaudio.deploy.trust import UntrustedModelError

    model, target = evil
    with pytest.raises(UntrustedModelError, match="WriteFile"):
        open_model(model)
    assert not target.exists()
    rc, out, err = run_cli(capsys, ["info", model, "--trust-model"])
    assert rc == 0, err
    assert "classes:     3" in out and target.is_file()


def test_tfaudio_exports_pass_the_check_and_the_allow_list_has_no_io_ops(tmp_path):
    import keras

    from tfaudio import models
    from tfaudio.deploy import savedmodel, trust
    from tfaudio.config import FeatureConfig
    from tfaudio.spec import RunSpec
    from tfaudio.deploy.loading import open_model

    assert not trust.ALLOWED_OPS & trust.FORBIDDEN_OPS
    feats = FeatureConfig(kind="log_mel", sr=8000, n_fft=256, hop_length=128, n_mels=16, fmin=0.0, fmax=4000.0)
    keras.utils.set_random_seed(0)
    net = models.build("activation_cnn", n_instruments=3, n_frames=4, features=feats, filters=(2, 2, 2))
    out = savedmodel.export_saved_model(net, RunSpec("activation", ("a", "b", "c"), feats, feats.window_samples(4)),
                                    tmp_path / "exported")
    ops = trust.saved_model_ops(out)
    assert "RFFT" in ops and "HashTableV2" in ops and set(ops) <= trust.ALLOWED_OPS
    assert not {"InitializeTableFromTextFileV2", "SaveV2", "RestoreV2"} & set(ops)  # no file op runs
    assert open_model(out).form == "saved_model"


def _every_export():
    """(model name, keras model, RunSpec) of every registered Keras model at a tiny size, and of every
    feature kind and scale (on cnn_small and activation_cnn), and the audio-in activation CNN."""
    import dataclasses

    from tests.test_models import TINY
    from tfaudio import models
    from tfaudio.config import FeatureConfig
    from tfaudio.spec import RunSpec

    f = FeatureConfig(kind="log_mel", sr=8000, n_fft=256, hop_length=128, n_mels=16, fmin=0.0, fmax=4000.0,
                      n_mfcc=8, n_bins=24, bins_per_octave=12)
    raw = dataclasses.replace(f, kind="none")
    cases = []
    for name in models.available():
        if name == "svm":
            continue
        kw = dict(TINY[name])
        if "n_frames" not in kw:  # raw-waveform models (the image ones from audio)
            kw |= {"input": "audio"} if name in ("cnn_stacked", "cnn_mrp") else {}
            cases.append((name, kw | {"multi_label": True}, raw, "multi_label", "audio"))
            continue
        n_bins = kw.pop("n_bins", None) or getattr(models.model_config(name, **kw), "n_bins", None) or 16
        g = dataclasses.replace(f, n_mels=n_bins)  # the bins the tiny model takes (some have a fixed count)
        if name == "activation_cnn":
            cases.append((name, kw | {"features": g}, g, "activation", "features"))
        elif name == "cnn_lstm":  # two inputs on features: audio in
            cases.append((name, kw | {"features": g, "input": "audio"}, g, "single_label", "audio"))
        else:
            cases.append((name, kw | {"features": g}, g, "single_label", "features"))
    from tfaudio.config import FEATURE_KINDS

    kinds = [(k, scale) for k in FEATURE_KINDS if k not in ("log_mel", "none")
             for scale in (("db", "linear") if k in ("cqt", "stft") else ("db",))]
    for kind, scale in kinds:
        g = dataclasses.replace(f, kind=kind, scale=scale, fmin=110.0 if kind == "cqt" else 0.0)
        cases.append(("cnn_small", dict(TINY["cnn_small"], n_bins=None, features=g, multi_label=True), g,
                      "multi_label", "features"))
        if kind != "mfcc":  # 8 MFCCs are fewer than the activation CNN's pooling
            cases.append(("activation_cnn", dict(TINY["activation_cnn"], n_bins=None, features=g), g, "activation",
                          "features"))
    cases.append(("activation_cnn", dict(TINY["activation_cnn"], n_bins=None, features=f, input="audio"), f,
                  "activation", "audio"))
    for name, kw, feats, task, inp in cases:
        net = models.build(name, n_classes=3, **kw)
        n = net.inputs[0].shape[1]
        window = n if inp == "audio" else feats.window_samples(n)
        yield name, net, RunSpec(task, ("a", "b", "c"), feats, int(window), model_input=inp)


@pytest.mark.slow
def test_the_allow_list_is_what_the_exporter_emits(tmp_path):
    """`tfaudio.deploy.trust.ALLOWED_OPS` is generated here: the ops of SavedModel exports of every registered model
    and feature kind. When TensorFlow or a model changes, paste the printed set into tfaudio/deploy/trust.py."""
    from tfaudio.deploy import savedmodel, trust

    emitted: dict[str, str] = {}
    for i, (name, net, spec) in enumerate(_every_export()):
        out = savedmodel.export_saved_model(net, spec, tmp_path / f"m{i}")
        for op in trust.saved_model_ops(out):
            emitted.setdefault(op, f"{name} ({spec.features.kind})")
        shutil.rmtree(out)
    missing = {op: where for op, where in emitted.items() if op not in trust.ALLOWED_OPS}
    assert not missing, f"ops the exporter emits that are not allowed: {missing}; all: {sorted(emitted)}"
    unused = trust.ALLOWED_OPS - set(emitted)
    assert not unused, f"allowed ops no export emits: {sorted(unused)}; all: {sorted(emitted)}"
    assert not set(emitted) & trust.FORBIDDEN_OPS


# --------------------------------------------- one header rule for every reader; streaming input bounds


def wav_header_only(sr: int, channels: int, data_bytes: int = 1200) -> bytes:
    """A 16-bit PCM WAV declaring `sr` Hz and `channels` channels, with `data_bytes` of samples."""
    fmt = struct.pack("<HHIIHH", 1, channels, sr, 2 * sr * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes) + \
        bytes(data_bytes)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(scope="module")
def implausible(tmp_path_factory):
    folder = tmp_path_factory.mktemp("implausible") / "data" / "piano"
    folder.mkdir(parents=True)
    files = {"rate1": folder / "one_hertz.wav", "channels300": folder / "many_channels.wav"}
    files["rate1"].write_bytes(wav_header_only(1, 1))
    files["channels300"].write_bytes(wav_header_only(22050, 300, 1200))
    return files


def test_a_one_hertz_wav_does_not_hang_predict(run, damaged, implausible, tmp_path):
    """A 1.2-KB WAV declaring 1 Hz spun predict for minutes; the files after it were never reached."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tfaudio", "predict", str(run), str(implausible["rate1"]),
                           str(damaged["good"]), "--out", str(out)], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert proc.returncode == 1, proc.stderr
    problems = problems_by_file(proc.stderr, [implausible["rate1"]])
    assert problems[str(implausible["rate1"])] == "implausible sample rate (1 Hz; expected 1000 to 1000000)"
    assert (out / "good.npy").is_file() and time.monotonic() - t0 < 60


def test_implausible_headers_get_the_same_line_from_every_reader(run, damaged, implausible, tmp_path, capsys):
    files = list(implausible.values())
    rc, _, err = run_cli(capsys, ["predict", run, damaged["good"], *files, "--out", tmp_path / "out"])
    assert rc == 1
    problems = problems_by_file(err, files)
    assert problems[str(implausible["channels300"])] == "implausible channel count (300; expected 1 to 255)"
    for path in files:
        with pytest.raises(AudioFileError) as e:
            load(path)
        assert e.value.problem == problems[str(path)]
    rc, out, _ = run_cli(capsys, ["data", "summary", implausible["rate1"].parent.parent, "--format", "folder"])
    assert summary_skipped_for(out, files) == {str(p): problems[str(p)] for p in files}


@pytest.mark.parametrize("option, value", [("--rate", "1"), ("--rate", "2000000"), ("--channels", "100000000"),
                                           ("--channels", "0")])
def test_stream_rate_and_channels_are_bounded_in_one_line(run, capsys, option, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", str(run), "-", "--stream", option, value])
    assert e.value.code == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert option in line and "expected an integer from" in line


def test_stream_library_bounds_and_bounded_reads(model_spec):
    from tfaudio.errors import TfaudioError
    from tfaudio.inference import Stream, stream_pcm
    from tfaudio.inference.stream import MAX_READ_BYTES

    model, spec = model_spec
    with pytest.raises(TfaudioError, match=r"^<stream>: implausible sample rate \(1 Hz"):
        Stream(model, spec, rate=1)
    with pytest.raises(TfaudioError, match=r"^<stream>: implausible channel count \(100000000;"):
        Stream(model, spec, channels=100_000_000)
    sizes = []

    class Source:
        data = io.BytesIO(np.zeros(255 * 3000, "<i2").tobytes())

        def read(self, n):
            sizes.append(n)
            return self.data.read(n)

    stream_pcm(Stream(model, spec, channels=255), Source(), io.StringIO())
    assert max(sizes) <= MAX_READ_BYTES


@pytest.mark.parametrize("closed", ["stdin", "stdout"])
def test_a_closed_stdin_or_stdout_is_one_line(run, capsys, monkeypatch, closed):
    monkeypatch.setattr(sys, closed, None)
    rc = cli.main(["predict", str(run), "-", "--stream"])
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = error_lines(err)
    assert line.startswith(f"{ERR}<{closed}>: is closed")


def test_nan_in_a_stream_names_stdin(run, capsys, monkeypatch):
    pcm = np.zeros(30000, "<f4")
    pcm[20000] = np.nan
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    rc = cli.main(["predict", str(run), "-", "--stream", "--sample-format", "f32le", "-q"])
    assert rc == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"{ERR}<stdin>: chunk ") and "NaN or Inf" in line


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict"])
    assert e.value.code == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "tfaudio predict" in line and "required" in line


def test_irmas_labels_with_a_bom_or_upper_case_codes_are_read(tmp_path):
    """A UTF-8 BOM or upper-case codes (`PIA`) made IRMAS label files 'unknown' and skipped them."""
    fixtures.make_irmas(tmp_path)
    wavs = sorted(tmp_path.rglob("IRMAS-TestingData-*/**/*.wav"))
    wavs[0].with_suffix(".txt").write_bytes("\ufeffcel\nPIA\n".encode("utf-8"))
    records = datasets.irmas(tmp_path, "test")
    assert not getattr(records, "skipped", [])
    (rec,) = [r for r in records if Path(r.path).name == wavs[0].name]
    assert rec.labels == ("cel", "pia")


def test_duplicate_medley_solos_db_rows_are_reported_not_counted_twice(tmp_path, capsys):
    root = fixtures.make_medley_solos_db(tmp_path / "d", seconds=0.3)
    meta = root / datasets.MSDB_METADATA
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join([*lines, lines[1]]) + "\n")
    records = datasets.medley_solos_db(root)
    assert len(records) == len(lines) - 1
    ((where, problem),) = records.skipped
    assert where == f"{meta}:{len(lines) + 1}" and problem.startswith("duplicate metadata row") and "line 2" in problem


def test_a_newline_in_a_file_name_is_escaped_on_stdout(run, tmp_path, capsys):
    wav = fixtures.write_audio(tmp_path / "two\nlines.wav", fixtures.sine(seconds=0.3), 22050, "PCM_16")
    rc, stdout, err = run_cli(capsys, ["predict", run, wav, "--out", tmp_path / "out"])
    assert rc == 0 and error_lines(err) == []
    lines = stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("model: ")  # the model line and one line for the file
    assert lines[1].startswith(str(tmp_path / "two\\nlines.wav") + ": ")


def test_a_plain_keras_model_with_a_copied_tfaudio_json_is_one_line_naming_it(run, tmp_path, capsys):
    """Issue 22: a .keras file that is not tfaudio's model but carries a copied `tfaudio.json` (the metadata of a
    tfaudio export) is refused in one `tfaudio: error: PATH: problem` line."""
    import zipfile

    import keras

    from tfaudio.deploy import metadata

    exported = tmp_path / "real.keras"
    assert cli.main(["export", str(run), "--format", "keras", "--out", str(exported)]) == 0
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((10,)), keras.layers.Dense(2)]).save(plain)
    with zipfile.ZipFile(exported) as z, zipfile.ZipFile(plain, "a") as out:
        out.writestr(metadata.KERAS_ENTRY, z.read(metadata.KERAS_ENTRY))
    wav = fixtures.write_audio(tmp_path / "x.wav", np.zeros(8000, np.float32), 16000)
    capsys.readouterr()
    for argv in (["predict", plain, wav, "--out", tmp_path / "o"], ["info", plain]):
        rc, _, err = run_cli(capsys, argv)
        assert rc == 2
        (line,) = error_lines(err)
        assert line.startswith(f"{ERR}{plain}: ") and "takes input" in line, line
