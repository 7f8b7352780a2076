"""Persistence: pickle, joblib and the safe ``save``/``load`` format give back the same model."""

import copy
import hashlib
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import skdeepcluster
from skdeepcluster import S3VDCClustering, load
from skdeepcluster._persistence import ModelFileError
from tests._configs import ESTIMATORS, LOSTER, S3VDC, estimator_ids, tiny_s3vdc

pd = pytest.importorskip("pandas")

FIXTURES = Path(__file__).parent / "persistence_files"
RNG = np.random.RandomState(0)
X_TABLE = np.vstack([RNG.normal(-4, 1, (30, 5)), RNG.normal(4, 1, (30, 5))])


def _waves(n_channels=None):
    rng = np.random.RandomState(1)
    t = np.linspace(0.0, 1.0, 32)
    frequency = np.where(np.arange(48) % 2 == 0, 2.0, 6.0)[:, None]
    X = np.sin(2 * np.pi * frequency * t + rng.uniform(0, 1, (48, 1))) + 0.1 * rng.normal(size=(48, 32))
    if n_channels is None:
        return X
    return np.stack([X * (c + 1) + 0.05 * rng.normal(size=X.shape) for c in range(n_channels)], axis=2)


X_SERIES = _waves()
X_MULTI = _waves(n_channels=2)
X_FRAME = pd.DataFrame(X_SERIES, columns=[f"t{i}" for i in range(X_SERIES.shape[1])])

# The registry's estimators on this file's inputs: the round trips must hold for every input form.
CASES = {
    "s3vdc": (S3VDC.make, {}, X_TABLE),
    "loster-2d": (LOSTER.make, {}, X_SERIES),
    "loster-3d": (LOSTER.make, {}, X_MULTI),
    "loster-raw": (LOSTER.make, {"normalize": False}, X_SERIES),
    "loster-frame": (LOSTER.make, {}, X_FRAME),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    make, params, X = CASES[request.param]
    return make(**params).fit(X), X


@pytest.fixture(scope="module")
def s3vdc():
    return tiny_s3vdc().fit(X_TABLE)


def _pickle(model, tmp_path):
    return pickle.loads(pickle.dumps(model))


def _joblib(model, tmp_path):
    joblib.dump(model, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


def _save_str(model, tmp_path):
    model.save(str(tmp_path / "model.skdc"))
    return load(str(tmp_path / "model.skdc"))


def _save_path(model, tmp_path):
    model.save(tmp_path / "model.skdc")
    return load(tmp_path / "model.skdc")


ROUND_TRIPS = {"pickle": _pickle, "joblib": _joblib, "save-str": _save_str, "save-path": _save_path}


def assert_same_value(restored, original, where):
    assert type(restored) is type(original), where
    if isinstance(original, np.ndarray):
        assert restored.dtype == original.dtype, where
        np.testing.assert_array_equal(restored, original, err_msg=where)
    elif isinstance(original, torch.nn.Module):
        restored_state, original_state = restored.state_dict(), original.state_dict()
        assert list(restored_state) == list(original_state), where
        for key, tensor in original_state.items():
            assert restored_state[key].dtype == tensor.dtype, f"{where}.{key}"
            assert torch.equal(restored_state[key].cpu(), tensor.cpu()), f"{where}.{key}"
        assert restored.training == original.training, where
        assert [p.requires_grad for p in restored.parameters()] == [p.requires_grad for p in original.parameters()]
    elif isinstance(original, (list, tuple)):
        assert len(restored) == len(original), where
        for index, (a, b) in enumerate(zip(restored, original, strict=True)):
            assert_same_value(a, b, f"{where}[{index}]")
    elif isinstance(original, dict):
        assert list(restored) == list(original), where
        for key in original:
            assert_same_value(restored[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, float) and np.isnan(original):
        assert np.isnan(restored), where
    else:
        assert restored == original, where


def assert_same_estimator(restored, original):
    assert type(restored) is type(original)
    assert set(vars(restored)) == set(vars(original))
    for name, value in vars(original).items():
        assert_same_value(getattr(restored, name), value, name)


def assert_same_outputs(restored, original, X):
    np.testing.assert_array_equal(restored.predict(X), original.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X), original.predict_proba(X))
    np.testing.assert_array_equal(restored.transform(X), original.transform(X))
    assert restored.score(X) == original.score(X)
    if isinstance(original, S3VDCClustering):
        np.testing.assert_array_equal(restored.score_samples(X), original.score_samples(X))
        for a, b in zip(restored.sample(7), original.sample(7), strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        centers = original.cluster_centers_
        np.testing.assert_array_equal(restored.inverse_transform(centers), original.inverse_transform(centers))


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
def test_round_trip_gives_identical_model(case, round_trip, tmp_path):
    model, X = case
    restored = ROUND_TRIPS[round_trip](model, tmp_path)
    assert_same_estimator(restored, model)
    assert_same_outputs(restored, model, X)
    if hasattr(model, "feature_names_in_"):
        assert restored.feature_names_in_.dtype == object
        assert list(restored.get_feature_names_out()) == list(model.get_feature_names_out())


def test_loaded_model_refits_and_warm_starts(case, tmp_path):
    model, X = case
    model.save(tmp_path / "model.skdc")
    restored = load(tmp_path / "model.skdc")
    # A plain refit with the same parameters and data repeats the original fit exactly.
    np.testing.assert_array_equal(copy.deepcopy(restored).fit(X).labels_, model.labels_)
    if "warm_start" in model.get_params():
        continued = restored.set_params(warm_start=True).fit(X)
        reference = copy.deepcopy(model).set_params(warm_start=True).fit(X)
        np.testing.assert_array_equal(continued.labels_, reference.labels_)
        np.testing.assert_array_equal(continued.transform(X), reference.transform(X))


def read_safetensors(data):
    """The safetensors layout, read independently of skdeepcluster: name -> numpy array."""
    dtypes = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "U8": "|u1", "BOOL": "|b1", "U16": "<u2"}
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    assert (8 + size) % 8 == 0  # the data starts aligned
    return {name: np.frombuffer(body[spec["data_offsets"][0]:spec["data_offsets"][1]],
                                dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
            for name, spec in header.items()}


def test_file_holds_json_and_safetensors_only(s3vdc, tmp_path):
    s3vdc.save(tmp_path / "model.skdc")
    with zipfile.ZipFile(tmp_path / "model.skdc") as archive:
        assert sorted(archive.namelist()) == ["arrays.safetensors", "skdeepcluster.json"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        document = json.loads(archive.read("skdeepcluster.json"))
        arrays = archive.read("arrays.safetensors")
    assert document["format"] == "skdeepcluster-model" and document["format_version"] == 2
    assert document["estimator"] == "S3VDCClustering"
    assert document["written_by"]["skdeepcluster"] == skdeepcluster.__version__
    assert document["params"]["hidden_dims"] == {"$type": "tuple", "items": [16]}
    assert document["arrays_sha256"] == hashlib.sha256(arrays).hexdigest()
    tensors = read_safetensors(arrays)
    for key, tensor in s3vdc.module_.state_dict().items():
        np.testing.assert_array_equal(tensors[f"module_.{key}"], tensor.numpy())
    # means_ and cluster_centers_ are one array: stored once, and shared again after loading.
    assert document["state"]["means_"] == document["state"]["cluster_centers_"]
    restored = load(tmp_path / "model.skdc")
    assert restored.means_ is restored.cluster_centers_


def test_every_value_kind_round_trips(s3vdc, tmp_path):
    model = copy.deepcopy(s3vdc)
    model.extra_ = {"nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"), "tuple": (1, "a", None),
                    "nested": [{"x": [True, 2.5]}], "f32": np.float32(1.5), "i64": np.int64(-3), "b": np.bool_(True),
                    "u16": np.arange(3, dtype=np.uint16), "big-endian": np.arange(4.0).astype(">f8"),
                    "0-d": np.array(2.5), "f32-2d": np.ones((2, 3), dtype=np.float32).T, "empty": np.zeros((0, 3)),
                    "str": np.array(["ab", "c"]), "obj": np.array(["ab", "c"], dtype=object)}
    model._private = -0.0
    model.save(tmp_path / "model.skdc")
    restored = load(tmp_path / "model.skdc")
    assert_same_estimator(restored, model)
    assert restored.extra_["big-endian"].dtype == np.dtype(">f8")
    assert np.signbit(restored._private)


def test_load_leaves_the_global_torch_generator_alone(s3vdc, tmp_path):
    s3vdc.save(tmp_path / "model.skdc")
    state = torch.random.get_rng_state()
    load(tmp_path / "model.skdc")
    assert torch.equal(state, torch.random.get_rng_state())


# ---- what save refuses --------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", [config.cls() for config in ESTIMATORS], ids=estimator_ids())
def test_save_unfitted_raises(estimator, tmp_path):
    with pytest.raises(NotFittedError):
        estimator.save(tmp_path / "model.skdc")
    assert not list(tmp_path.iterdir())


def test_save_refuses_unknown_values_by_name(s3vdc, tmp_path):
    model = copy.deepcopy(s3vdc)
    model.callback_ = {"fn": print}
    with pytest.raises(TypeError, match=r"attribute callback_\['fn'\] has type builtins"):
        model.save(tmp_path / "model.skdc")
    model = copy.deepcopy(s3vdc)
    model.extra_ = np.array([object()], dtype=object)
    with pytest.raises(TypeError, match="extra_ is a numpy array of dtype object"):
        model.save(tmp_path / "model.skdc")
    with pytest.raises(ValueError, match=r"random_state is a numpy RandomState.*int or None"):
        copy.deepcopy(s3vdc).set_params(random_state=np.random.RandomState(0)).save(tmp_path / "model.skdc")
    with pytest.raises(ValueError, match="set_params after fit"):
        copy.deepcopy(s3vdc).set_params(hidden_dims=(8,)).save(tmp_path / "model.skdc")
    assert not list(tmp_path.iterdir())


def test_save_is_atomic(s3vdc, tmp_path, monkeypatch):
    path = tmp_path / "model.skdc"
    path.write_bytes(b"previous version")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(KeyboardInterrupt):
        s3vdc.save(path)
    assert path.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["model.skdc"]  # no temporary file left behind
    monkeypatch.undo()
    s3vdc.save(path)
    np.testing.assert_array_equal(load(path).predict(X_TABLE), s3vdc.predict(X_TABLE))


# ---- what load refuses --------------------------------------------------------------------------


def _members(path, arrays_member="arrays.safetensors"):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("skdeepcluster.json")), archive.read(arrays_member)


def _write(path, document, arrays, rehash=False, arrays_member="arrays.safetensors"):
    if rehash:
        document["arrays_sha256"] = hashlib.sha256(arrays).hexdigest()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("skdeepcluster.json", json.dumps(document))
        archive.writestr(arrays_member, arrays)
    return path


@pytest.fixture
def saved(s3vdc, tmp_path):
    path = tmp_path / "model.skdc"
    s3vdc.save(path)
    return path


def test_load_refuses_files_that_are_not_model_files(saved, s3vdc, tmp_path):
    truncated = tmp_path / "truncated.skdc"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a skdeepcluster model file"):
        load(truncated)
    joblib.dump(s3vdc, tmp_path / "model.joblib")
    with pytest.raises(ValueError, match=r"not a skdeepcluster model file.*pickle/joblib"):
        load(tmp_path / "model.joblib")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("skdeepcluster.json", "{}")
    with pytest.raises(ValueError, match=r"not a skdeepcluster model file: the archive holds \['skdeepcluster.json'\]"):
        load(tmp_path / "other.zip")
    document, arrays = _members(saved)
    document["format"] = "something-else"
    with pytest.raises(ValueError, match="does not declare the format"):
        load(_write(tmp_path / "format.skdc", document, arrays))


def test_load_refuses_a_newer_format_version(saved, tmp_path):
    document, arrays = _members(saved)
    document["format_version"] = 3
    newer = r"format version 3 \(written by skdeepcluster .*\), but this skdeepcluster reads format versions up to 2\."
    with pytest.raises(ValueError, match=newer):
        load(_write(tmp_path / "newer.skdc", document, arrays))
    with pytest.raises(ValueError, match=newer):  # a newer format may have other members
        load(_write(tmp_path / "newer.skdc", document, arrays, arrays_member="arrays.v3"))


def test_load_refuses_tampered_weights(saved, tmp_path):
    document, arrays = _members(saved)
    flipped = bytearray(arrays)
    flipped[len(flipped) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="corrupted or was modified: the SHA-256"):
        load(_write(tmp_path / "tampered.skdc", document, bytes(flipped)))


def test_load_refuses_a_class_outside_skdeepcluster(saved, tmp_path):
    document, arrays = _members(saved)
    document["estimator"] = "os.system"
    with pytest.raises(ValueError, match=re.escape("'os.system', which is not one of skdeepcluster's estimators")):
        load(_write(tmp_path / "class.skdc", document, arrays))


def test_load_refuses_weights_that_do_not_fit_the_network(saved, tmp_path):
    document, arrays = _members(saved)
    document["params"]["hidden_dims"] = {"$type": "tuple", "items": [8]}
    with pytest.raises(ValueError, match="saved weights of module_ do not fit"):
        load(_write(tmp_path / "shapes.skdc", document, arrays))
    document["params"]["hidden_dims"] = {"$type": "tuple", "items": [100_000]}
    with pytest.raises(ValueError, match=r"at least 1 layers and 600004 weights, but the file holds 13 tensors"):
        load(_write(tmp_path / "shapes.skdc", document, arrays))
    document, arrays = _members(saved)
    document["state"]["__class__"] = "str"
    with pytest.raises(ValueError, match="'__class__' cannot be stored in or set from"):
        load(_write(tmp_path / "dunder.skdc", document, arrays))


@pytest.mark.parametrize("edit", [
    lambda d: d["state"].update(labels_={"$type": "pickle", "data": "..."}),
    lambda d: d["state"].update(labels_={"$type": "ndarray", "key": "module_.means", "dtype": "<f8", "shape": [2, 2]}),
    lambda d: d["state"].update(labels_={"$type": "ndarray", "key": "array.0", "dtype": "|O", "shape": [2]}),
    lambda d: d["state"].update(labels_={"$type": "module", "prefix": "module_."}),
    lambda d: d["params"].update(hidden_dims={"$type": "ndarray", "key": "array.0", "dtype": "<f8", "shape": [2]}),
    lambda d: d["params"].update(callback="print"),
    lambda d: d.pop("state"),
], ids=["unknown-tag", "array-from-weights", "object-dtype", "second-network", "array-parameter",
        "unknown-parameter", "no-state"])
def test_load_refuses_malformed_json(saved, tmp_path, edit):
    document, arrays = _members(saved)
    edit(document)
    with pytest.raises(ModelFileError, match=r"model\.skdc' (was refused|is not a valid skdeepcluster model file)"):
        load(_write(tmp_path / "model.skdc", document, arrays))


def _write_marker(path):
    Path(path).write_text("code from the file ran")
    return "payload"


class _Payload:
    """Unpickling this runs _write_marker: what a malicious pickle does, made harmless."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _write_marker, (str(self.marker),)


def test_load_refuses_pickled_code_in_a_version_1_file_without_running_it(tmp_path):
    document, arrays = _members(FIXTURES / "v1-b11bb1d-s3vdc.skdc", "arrays.pt")
    tensors = torch.load(io.BytesIO(arrays), weights_only=True)
    marker = tmp_path / "marker.txt"
    buffer = io.BytesIO()
    torch.save({**tensors, "array.0": _Payload(marker)}, buffer)
    # The hash is recomputed, so only weights_only loading stands between the file and the code.
    malicious = _write(tmp_path / "malicious.skdc", document, buffer.getvalue(), rehash=True, arrays_member="arrays.pt")
    with pytest.raises(ValueError, match=r"contains objects other than tensors.*nothing in it was run"):
        load(malicious)
    assert not marker.exists()
    # The payload is live: a plain unpickling of the same bytes runs it.
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert marker.exists()


# ---- devices ------------------------------------------------------------------------------------


@pytest.mark.parametrize("round_trip", ["pickle", "save-path"])
def test_model_trained_on_cuda_loads_on_a_cpu_only_machine(case, round_trip, tmp_path, monkeypatch):
    model, X = case
    as_if_from_gpu = copy.deepcopy(model)
    as_if_from_gpu.device_ = "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = ROUND_TRIPS[round_trip](as_if_from_gpu, tmp_path)
    assert restored.device_ == "cuda:0"
    assert restored._module_device().type == "cpu"
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_saves_cpu_weights_and_loads_back_on_cuda(tmp_path, monkeypatch):
    model = tiny_s3vdc(device="cuda").fit(X_TABLE)
    model.save(tmp_path / "model.skdc")
    assert all(t.device.type == "cpu" for t in load(tmp_path / "model.skdc").module_.to("cpu").state_dict().values())
    restored = load(tmp_path / "model.skdc")
    assert restored._module_device().type == "cuda"
    np.testing.assert_array_equal(restored.predict(X_TABLE), model.predict(X_TABLE))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    on_cpu = load(tmp_path / "model.skdc")
    assert on_cpu._module_device().type == "cpu"
    np.testing.assert_allclose(on_cpu.predict_proba(X_TABLE), model.predict_proba(X_TABLE), atol=1e-6)
