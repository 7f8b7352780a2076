"""What ``skdeepcluster.load`` refuses, how fast, and in how much memory; what ``save`` guarantees on disk.

The crafted files reproduce the findings of issue 14 (each name says which); the fuzz test
loads them, and thousands of byte-flipped files, in a child process under an address-space
limit: every file is refused with a ``ModelFileError`` (a ``ValueError``) or loads, within
seconds, and nothing exhausts the machine.
"""

import hashlib
import json
import os
import re
import stat
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from skdeepcluster import load
from skdeepcluster._persistence import ModelFileError
from tests._configs import tiny_loster, tiny_s3vdc

FIXTURES = Path(__file__).parent / "persistence_files"
REPO = Path(__file__).parent.parent
RNG = np.random.RandomState(0)
X_TABLE = np.vstack([RNG.normal(-4, 1, (30, 5)), RNG.normal(4, 1, (30, 5))])
X_SERIES = np.sin(np.linspace(0, 6, 24)[None, :] * np.where(np.arange(40) % 2, 1.0, 3.0)[:, None])
X_SERIES = X_SERIES + 0.05 * RNG.normal(size=X_SERIES.shape)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Paths of a saved S3VDC and a saved LoSTer model (format 2)."""
    folder = tmp_path_factory.mktemp("saved")
    tiny_s3vdc().fit(X_TABLE).save(folder / "s3vdc.skdc")
    tiny_loster(max_epochs=1, pretrain_epochs=2, tol=0).fit(X_SERIES).save(folder / "loster.skdc")
    return {"s3vdc": folder / "s3vdc.skdc", "loster": folder / "loster.skdc"}


# ---- building crafted files ----------------------------------------------------------------------


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path, items, compression=zipfile.ZIP_STORED):
    """``items``: (name, bytes) or (name, bytes, compression); duplicates are written as given."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": wanted here
        for item in items:
            archive.writestr(item[0], item[1], compress_type=item[2] if len(item) > 2 else compression)
    return path


def edited(source, path, edit_document=None, edit_arrays=None, rehash=True):
    """A copy of the model file ``source`` with its JSON and/or tensors edited (valid zip, fresh SHA-256)."""
    files = members(source)
    arrays_member = next(name for name in files if name.startswith("arrays."))
    document = json.loads(files["skdeepcluster.json"])
    arrays = files[arrays_member]
    if edit_arrays is not None:
        arrays = edit_arrays(arrays)
    if edit_document is not None:
        edit_document(document)
    if rehash:
        document["arrays_sha256"] = hashlib.sha256(arrays).hexdigest()
    text = json.dumps(document).encode() if isinstance(document, dict) else document
    return write_zip(path, [("skdeepcluster.json", text), (arrays_member, arrays)])


def split_safetensors(data):
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + size]), data[8 + size:]


def join_safetensors(header, body):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def with_header(edit):
    def edit_arrays(data):
        header, body = split_safetensors(data)
        edit(header)
        return join_safetensors(header, body)
    return edit_arrays


def nan_first_weight(data):
    header, body = split_safetensors(data)
    begin = next(spec["data_offsets"][0] for name, spec in header.items() if name.startswith("module_."))
    body = bytearray(body)
    body[begin:begin + 8] = struct.pack("<d", float("nan"))
    return join_safetensors(header, bytes(body))


def set_param(name, value):
    return lambda document: document["params"].__setitem__(name, value)


def set_state(name, value):
    return lambda document: document["state"].__setitem__(name, value)


def crafted_files(folder, saved):
    """Files that load must refuse, named after what they try. Returns {name: path}."""
    s3vdc, loster = saved["s3vdc"], saved["loster"]
    json_text = members(s3vdc)["skdeepcluster.json"]
    arrays = members(s3vdc)["arrays.safetensors"]
    deep = "[" * 100_000 + "]" * 100_000
    files = {
        # Issue 14's table, row by row.
        "str-width-500M": edited(s3vdc, folder / "a", set_state("names_", {
            "$type": "str_array", "dtype": "<U500000000", "shape": [4], "items": ["a", "b", "c", "d"]})),
        "json-padded-deflated": write_zip(folder / "b", [
            ("skdeepcluster.json", json_text[:-1] + b" " * 40 * 2**20 + b"}", zipfile.ZIP_DEFLATED),
            ("arrays.safetensors", arrays)]),
        "zero-array-deflated": write_zip(folder / "c", [
            ("skdeepcluster.json", json_text), ("arrays.safetensors", bytes(64 * 2**20), zipfile.ZIP_DEFLATED)]),
        "zero-array-deflated-v1": write_zip(folder / "d", [
            ("skdeepcluster.json", members(FIXTURES / "v1-b11bb1d-s3vdc.skdc")["skdeepcluster.json"]),
            ("arrays.pt", bytes(64 * 2**20), zipfile.ZIP_DEFLATED)]),
        "hidden-dims-100000": edited(s3vdc, folder / "e", set_param(
            "hidden_dims", {"$type": "tuple", "items": [16] * 100_000})),
        "encoder-blocks-50000": edited(loster, folder / "f", set_param("n_encoder_blocks", 50_000)),
        "hidden-dim-1e9": edited(loster, folder / "g", set_param("hidden_dim", 10**9)),
        "batch-size-0": edited(s3vdc, folder / "h", set_param("batch_size", 0)),
        "n-score-samples-0": edited(s3vdc, folder / "i", set_param("n_score_samples", 0)),
        "reconstruction-nonsense": edited(s3vdc, folder / "j", set_param("reconstruction", "nonsense")),
        "nan-weight": edited(s3vdc, folder / "k", edit_arrays=nan_first_weight),
        "two-json-members": write_zip(folder / "l", [
            ("skdeepcluster.json", json_text), ("skdeepcluster.json", b"{}"), ("arrays.safetensors", arrays)]),
        "duplicate-json-key": write_zip(folder / "m", [
            ("skdeepcluster.json", json_text[:-1] + b', "estimator": "LoSTerClustering"}'),
            ("arrays.safetensors", arrays)]),
        # Sizes, depths, dtypes and counts.
        "json-depth-100000": edited(s3vdc, folder / "n", set_state("deep_", "@")),
        "json-depth-40": edited(s3vdc, folder / "o", set_state("deep_", json.loads("[" * 40 + "]" * 40))),
        "many-members": write_zip(folder / "p", [(f"m{index}", b"") for index in range(5000)]),
        "lzma-json": write_zip(folder / "q", [("skdeepcluster.json", json_text, zipfile.ZIP_LZMA),
                                                ("arrays.safetensors", arrays)]),
        "extra-member": write_zip(folder / "r", [("skdeepcluster.json", json_text), ("arrays.safetensors", arrays),
                                                 ("arrays.pt", b"")]),
        "tensor-header-2^60": edited(s3vdc, folder / "s", edit_arrays=lambda data: struct.pack("<Q", 2**60) + data[8:]),
        "tensor-shape-lie": edited(s3vdc, folder / "t", edit_arrays=with_header(
            lambda header: header["array.0"].__setitem__("shape", [10**9, 10**9]))),
        "tensor-overlap": edited(s3vdc, folder / "u", edit_arrays=with_header(
            lambda header: header["array.1"].__setitem__("data_offsets", [
                0, header["array.1"]["data_offsets"][1] - header["array.1"]["data_offsets"][0]]))),
        "tensor-dtype-object": edited(s3vdc, folder / "v", edit_arrays=with_header(
            lambda header: header["array.0"].__setitem__("dtype", "O"))),
        "array-shape-mismatch": edited(s3vdc, folder / "w", lambda document: document["state"]["labels_"].__setitem__(
            "shape", [10**12])),
        "unknown-parameter": edited(s3vdc, folder / "x", set_param("callback", "print")),
        "int8-overflow": edited(s3vdc, folder / "y", set_state("small_", {
            "$type": "numpy_scalar", "dtype": "|i1", "value": 100_000})),
        "n-features-1e30": edited(s3vdc, folder / "z", set_state("n_features_in_", 10**30)),
        "no-n-features": edited(s3vdc, folder / "za", lambda document: document["state"].pop("n_features_in_")),
        "nan-literal": write_zip(folder / "zb", [
            ("skdeepcluster.json", re.sub(rb'"tol": [0-9.e-]+', b'"tol": NaN', json_text, count=1)),
            ("arrays.safetensors", arrays)]),
        "empty": folder / "zc",
        "not-a-zip": folder / "zd",
        "truncated": folder / "ze",
        "bad-hash": edited(s3vdc, folder / "zf", edit_arrays=lambda data: data[:-1] + bytes([data[-1] ^ 1]),
                           rehash=False),
        "wrong-version": edited(s3vdc, folder / "zg", lambda document: document.__setitem__("format_version", 1)),
    }
    # The deep JSON is spliced in as text: json.dumps itself would recurse too deep to write it.
    text = (folder / "n").read_bytes()
    files["json-depth-100000"] = write_zip(folder / "n", [
        ("skdeepcluster.json", members(folder / "n")["skdeepcluster.json"].replace(b'"@"', deep.encode())),
        ("arrays.safetensors", arrays)])
    del text
    (folder / "zc").write_bytes(b"")
    (folder / "zd").write_bytes(b"\x80\x04K\x01." * 100)
    (folder / "ze").write_bytes(s3vdc.read_bytes()[: s3vdc.stat().st_size // 2])
    return files


# ---- the rows, one test each -----------------------------------------------------------------


@pytest.fixture(scope="module")
def crafted(saved, tmp_path_factory):
    return crafted_files(tmp_path_factory.mktemp("crafted"), saved)


EXPECTED_MESSAGES = {
    "str-width-500M": "dtype <U500000000 is wider than the longest of its strings",
    "json-padded-deflated": "skdeepcluster.json member declares 419\\d{5} bytes, more than the 33554432",
    "zero-array-deflated": "arrays.safetensors member is compressed",
    "zero-array-deflated-v1": "arrays.pt member is compressed",
    "hidden-dims-100000": "describe a network of at least 100000 layers",
    "encoder-blocks-50000": "describe a network of at least 5000\\d layers",
    "hidden-dim-1e9": "network of at least 4 layers and \\d+ weights, but the file holds",
    "batch-size-0": "'batch_size' parameter of S3VDCClustering must be an int in the range \\[1, inf\\)",
    "n-score-samples-0": "'n_score_samples' parameter",
    "reconstruction-nonsense": "'reconstruction' parameter",
    "nan-weight": "is not a finite floating-point array",
    "two-json-members": "several members named \\['skdeepcluster.json'\\]",
    "duplicate-json-key": "holds the key 'estimator' twice",
    "json-depth-100000": "not valid JSON|deeper than 32",
    "json-depth-40": "nests JSON deeper than 32 levels",
    "many-members": "lists 5000 members in \\d+ bytes",
    "lzma-json": "compression method 14",
    "extra-member": "archive holds \\['skdeepcluster.json', 'arrays.safetensors', 'arrays.pt'\\]",
    "tensor-header-2^60": "declares a header of 1152921504606846976 bytes",
    "tensor-shape-lie": "has shape \\[1000000000, 1000000000\\] but \\d+ bytes",
    "tensor-overlap": "do not tile its data",
    "tensor-dtype-object": "is not described by a dtype",
    "array-shape-mismatch": "does not hold a int64 array of shape \\(1000000000000,\\)",
    "unknown-parameter": "holds parameters \\['callback'\\] that this skdeepcluster's S3VDCClustering does not",
    "int8-overflow": "OverflowError",
    "n-features-1e30": "at least 1 layers and \\d{30,} weights",
    "no-n-features": "AttributeError.*n_features_in_",
    "nan-literal": "holds NaN, which is not JSON",
    "empty": "not a skdeepcluster model file",
    "not-a-zip": "not a skdeepcluster model file",
    "truncated": "not a skdeepcluster model file",
    "bad-hash": "is corrupted or was modified: the SHA-256",
    "wrong-version": "invalid format_version 1: its members are those of format version 2",
}


@pytest.mark.parametrize("name", list(EXPECTED_MESSAGES))
def test_crafted_file_is_refused_quickly_with_a_clear_message(crafted, name):
    path = crafted[name]
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match=EXPECTED_MESSAGES[name]) as caught:
        load(path)
    assert time.perf_counter() - started < 2.0
    assert isinstance(caught.value, ValueError)
    assert caught.value.path == os.fspath(path) and str(caught.value).startswith(repr(os.fspath(path)))


def test_a_file_of_every_format_version_loads_and_predicts_as_when_saved(tmp_path):
    from tests.persistence_files.write_fixture import probe_inputs

    table, series = probe_inputs()
    fixtures = sorted(FIXTURES.glob("*-expected.json"))
    assert {path.name.split("-")[0] for path in fixtures} == {"v1", "v2"}  # add each new format version's files
    for expected_path in fixtures:
        tag = expected_path.name.removesuffix("-expected.json")
        expected = json.loads(expected_path.read_text())
        for name, X in (("s3vdc", table), ("loster", series)):
            model = load(FIXTURES / f"{tag}-{name}.skdc")
            np.testing.assert_array_equal(model.predict(X), expected[name]["labels"], err_msg=tag)
            np.testing.assert_allclose(model.predict_proba(X), expected[name]["proba"], rtol=0, atol=1e-12,
                                       err_msg=tag)
            # Saved again, it is a current-format file with the same predictions.
            model.save(tmp_path / "again.skdc")
            again = load(tmp_path / "again.skdc")
            np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_older_file_gets_defaults_for_parameters_it_predates():
    model = load(FIXTURES / "v1-80ed509-s3vdc.skdc")
    document = json.loads(members(FIXTURES / "v1-80ed509-s3vdc.skdc")["skdeepcluster.json"])
    missing = sorted(set(model.get_params()) - set(document["params"]))
    assert missing == ["clustering_learning_rate", "distributed", "guided_periods", "init_partition", "n_jobs",
                       "prior_learning_rate_scale", "tol", "warm_start"]
    defaults = type(model)().get_params()
    assert all(model.get_params()[name] == defaults[name] for name in missing)


def test_version_1_files_need_a_torch_without_known_weights_only_bypasses(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    with pytest.raises(ModelFileError, match=r"format version 1.*torch 2.5.1\+cpu has published bypasses.*2\.10"):
        load(FIXTURES / "v1-b11bb1d-s3vdc.skdc")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs a /dev/zero character device")
def test_devices_pipes_and_folders_are_refused_without_reading(tmp_path):
    started = time.perf_counter()
    for path in ("/dev/zero", tmp_path):
        with pytest.raises(ModelFileError, match="is not a regular file"):
            load(path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")  # opening a pipe for reading would block until a writer comes
        with pytest.raises(ModelFileError, match="is not a regular file"):
            load(tmp_path / "pipe")
    assert time.perf_counter() - started < 1.0
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.skdc")


def test_refusals_pickle_as_they_are_raised_in_worker_processes(crafted):
    import pickle

    with pytest.raises(ModelFileError) as caught:
        load(crafted["empty"])
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is ModelFileError and str(copy) == str(caught.value) and copy.path == caught.value.path


def test_max_bytes_bounds_the_file_size(saved):
    size = saved["s3vdc"].stat().st_size
    with pytest.raises(ModelFileError, match=f"has {size} bytes, more than max_bytes=1000"):
        load(saved["s3vdc"], max_bytes=1000)
    assert load(saved["s3vdc"], max_bytes=size).n_features_in_ == 5
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        load(saved["s3vdc"], max_bytes=0)


# ---- the fuzz test --------------------------------------------------------------------------------


def _flips(data, positions, rng):
    for position in positions:
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.randint(8))
        yield position, bytes(flipped)


def _fuzz_folder(folder, saved, crafted):
    """Crafted files (must be refused) and byte-flipped ones (refused or loaded), about 1,900 in all."""
    rng = np.random.RandomState(14)
    for name, path in saved.items():
        (folder / f"ok-{name}").write_bytes(Path(path).read_bytes())
    for name, path in crafted.items():
        (folder / f"refuse-{name}").write_bytes(Path(path).read_bytes())
    # Raw flips anywhere in the file: mostly caught by the zip's CRC-32, the rest by the parsers.
    raw = saved["s3vdc"].read_bytes()
    positions = sorted(set(rng.choice(len(raw), 800, replace=False)) | set(range(len(raw) - 200, len(raw))))
    for position, data in _flips(raw, positions, rng):
        (folder / f"flip-raw-{position}").write_bytes(data)
    # Flips inside the members with valid CRCs and a recomputed SHA-256: they reach the JSON,
    # safetensors and (format 1) torch.load parsers and the checks after them.
    for source, label in ((saved["s3vdc"], "s3vdc"), (saved["loster"], "loster"),
                          (FIXTURES / "v1-b11bb1d-loster.skdc", "v1")):
        files = members(source)
        arrays_member = next(name for name in files if name.startswith("arrays."))
        for member in ("skdeepcluster.json", arrays_member):
            data = files[member]
            for position, flipped in _flips(data, rng.choice(len(data), 150, replace=False), rng):
                content = dict(files, **{member: flipped})
                document = content["skdeepcluster.json"]
                if member == arrays_member:  # rehash, so that the flip gets past the SHA-256
                    text = json.loads(document)
                    text["arrays_sha256"] = hashlib.sha256(flipped).hexdigest()
                    document = json.dumps(text).encode()
                write_zip(folder / f"flip-{label}-{member}-{position}",
                          [("skdeepcluster.json", document), (arrays_member, content[arrays_member])])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status are Linux-only")
def test_fuzzed_files_are_refused_or_loaded_in_bounded_time_and_memory(saved, crafted, tmp_path):
    _fuzz_folder(tmp_path, saved, crafted)
    completed = subprocess.run([sys.executable, str(REPO / "tests" / "_load_fuzz_child.py"), str(tmp_path), "512"],
                               capture_output=True, text=True, timeout=300, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    outcomes = report["outcomes"]
    assert len(outcomes) > 1800
    unexpected = {name: outcome for name, outcome in outcomes.items() if outcome not in ("ok", "ModelFileError")}
    assert not unexpected, dict(list(unexpected.items())[:10])
    loaded_crafted = [name for name, outcome in outcomes.items() if name.startswith("refuse-") and outcome == "ok"]
    assert not loaded_crafted
    assert outcomes["ok-s3vdc"] == outcomes["ok-loster"] == "ok"
    # Typically a few ms per file; a second at most, even on a shared, loaded 2-core machine.
    assert report["slowest_s"] < 2.0, report["slowest"]
    # The largest file is 64 MiB of zeros compressed to 64 KiB: nothing may come near the 512 MiB limit.
    assert report["peak_growth_mib"] < 100, report["largest"]
    print({key: value for key, value in report.items() if key != "outcomes"},
          {outcome: list(outcomes.values()).count(outcome) for outcome in set(outcomes.values())})


# ---- what save guarantees on disk -----------------------------------------------------------------


def test_save_keeps_the_file_mode_and_syncs_file_then_folder(saved, tmp_path, monkeypatch):
    model = load(saved["s3vdc"])
    path = tmp_path / "model.skdc"
    path.write_bytes(b"previous version")
    os.chmod(path, 0o600)
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    model.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The data is on disk before the rename, the rename after it. (A first save in a process
    # where unnamed files cannot be linked writes the file twice, hence "ends with".)
    assert synced[-2:] == ["file", "folder"] and synced.count("folder") == 1
    umask = os.umask(0)
    os.umask(umask)
    model.save(tmp_path / "new.skdc")
    assert stat.S_IMODE((tmp_path / "new.skdc").stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdc", "new.skdc"]


def test_save_removes_the_temporary_files_of_killed_saves(saved, tmp_path, monkeypatch):
    import skdeepcluster._persistence as persistence

    model = load(saved["s3vdc"])
    dead = tmp_path / ".model.skdc.999999999.0badc0de.tmp"  # no such process
    running = tmp_path / f".model.skdc.{os.getpid()}.0badc0de.tmp"  # a save in progress in this process
    other = tmp_path / ".other.skdc.999999999.0badc0de.tmp"  # another file's
    for leftover in (dead, running, other):
        leftover.write_bytes(b"partial")
    monkeypatch.setattr(persistence, "_write_unnamed", lambda *args: None)  # as where O_TMPFILE is missing
    model.save(tmp_path / "model.skdc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.skdc", running.name, other.name])


_SAVE_FOREVER = """
import sys, warnings
warnings.simplefilter("ignore")
import skdeepcluster
model = skdeepcluster.load(sys.argv[1])
print("ready", flush=True)
while True:
    model.save(sys.argv[2])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_during_saves_leaves_the_file_whole_and_no_temporary_files_after_the_next_save(saved, tmp_path):
    target = tmp_path / "model.skdc"
    child = subprocess.Popen([sys.executable, "-c", _SAVE_FOREVER, str(saved["loster"]), str(target)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # dozens of saves
    finally:
        child.kill()
        child.wait()
    reference = load(saved["loster"])
    np.testing.assert_array_equal(load(target).predict(X_SERIES), reference.predict(X_SERIES))
    reference.save(target)  # removes what the killed process left, if anything
    assert [p.name for p in tmp_path.iterdir()] == ["model.skdc"]
