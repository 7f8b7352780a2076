"""A safe, versioned file format for fitted estimators: ``est.save(path)`` and :func:`load`.

A model file is a zip archive with two members:

``skdeepcluster.json``
    The format name and version, the library versions that wrote it, the estimator class
    name, ``get_params()`` and the fitted attributes, all as tagged JSON, and the SHA-256 of
    ``arrays.pt``.
``arrays.pt``
    A flat ``dict`` of CPU tensors written by :func:`torch.save`: the numeric arrays the JSON
    refers to by key and the networks' ``state_dict`` entries. It is read with
    ``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
    containers.

Nothing is ever imported or called by a name read from the file: the estimator class comes
from a fixed registry of skdeepcluster's own estimators and every network is rebuilt from
the estimator's parameters and fitted attributes by that registry's builder, then filled
with the saved weights.

Fitted attributes are encoded generically (every ``vars(estimator)`` entry that is not a
constructor parameter), so new attributes need no change here as long as their values are
None, bool, int, float, str, lists, tuples, dicts with str keys, numpy numeric or str
arrays, numpy scalars, or a network with a registered builder. Anything else is a
``TypeError`` at save time, never a silent omission.
"""

import hashlib
import io
import json
import math
import os
import pickle
import secrets
import zipfile

import numpy as np
import sklearn
import torch
from sklearn.utils.validation import check_is_fitted

from .loster._estimator import LoSTerClustering
from .loster._model import LoSTerNetwork
from .s3vdc._estimator import S3VDCClustering
from .s3vdc._model import build_network

FORMAT_NAME = "skdeepcluster-model"
FORMAT_VERSION = 1
JSON_MEMBER = "skdeepcluster.json"
ARRAYS_MEMBER = "arrays.pt"
_TAG = "$type"

# numpy dtypes stored as tensors of the same dtype; other numeric dtypes (non-native byte
# order, unsigned ints wider than 8 bits) are stored as their raw bytes in a uint8 tensor.
_NATIVE_DTYPES = {np.dtype(name) for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "float16",
                                              "float32", "float64", "complex64", "complex128")}


def _build_s3vdc(estimator):
    n_clusters, latent_dim = estimator.cluster_centers_.shape  # the fitted sizes, whatever set_params did
    return build_network(estimator.encoder, estimator.n_features_in_, latent_dim, n_clusters,
                         estimator.hidden_dims, estimator.input_shape, estimator.activation)


def _build_loster(estimator):
    n_clusters, latent_dim = estimator.cluster_centers_.shape
    return LoSTerNetwork(estimator.n_timestamps_in_ * estimator.n_channels_in_, n_clusters, latent_dim,
                         estimator.hidden_dim, estimator.n_encoder_blocks, estimator.n_decoder_blocks,
                         estimator.dropout)


# The only classes load() instantiates, and for each the networks it rebuilds: attribute
# name -> builder(estimator with its other fitted attributes set) -> an untrained network.
_ESTIMATORS = {
    "S3VDCClustering": (S3VDCClustering, {"module_": _build_s3vdc}),
    "LoSTerClustering": (LoSTerClustering, {"module_": _build_loster}),
}


# ---- encoding ----------------------------------------------------------------------------------


class _Encoder:
    """Tagged JSON for values, with numeric arrays and network weights collected in ``tensors``."""

    def __init__(self, builders):
        self.builders = builders
        self.tensors = {}
        self._array_keys = {}  # id(array) -> key: an array stored twice (means_ is cluster_centers_) stays shared

    def encode(self, value, where, top_level=None):
        if value is None or type(value) in (bool, str, int):
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
        if isinstance(value, np.generic):
            return self._encode_numpy_scalar(value, where)
        if type(value) in (list, tuple):
            items = [self.encode(item, f"{where}[{index}]") for index, item in enumerate(value)]
            return items if type(value) is list else {_TAG: "tuple", "items": items}
        if type(value) is dict:
            for key in value:
                if type(key) is not str:
                    raise TypeError(f"{where} is a dict with a key {key!r} of type {type(key).__name__}; the "
                                    "skdeepcluster file format stores dicts with str keys only.")
            return {_TAG: "dict", "items": {key: self.encode(item, f"{where}[{key!r}]") for key, item in value.items()}}
        if isinstance(value, np.ndarray) and type(value) is np.ndarray:
            return self._encode_array(value, where)
        if isinstance(value, torch.nn.Module) and top_level in self.builders:
            return self._encode_module(value, top_level)
        if isinstance(value, torch.nn.Module):
            raise TypeError(f"{where} is a torch module that the skdeepcluster file format cannot rebuild: only "
                            f"the attributes {sorted(self.builders)} of this estimator may hold networks.")
        raise TypeError(f"{where} has type {type(value).__module__}.{type(value).__qualname__}, which the "
                        "skdeepcluster file format cannot store (it stores None, bool, int, float, str, lists, "
                        "tuples, dicts with str keys, numpy numeric or str arrays and numpy scalars). Use pickle "
                        "or joblib for this estimator, or remove the attribute.")

    def _encode_numpy_scalar(self, value, where):
        if value.dtype.kind not in "biuf" or type(value.item()) not in (bool, int, float):  # e.g. longdouble
            raise TypeError(f"{where} is a numpy scalar of dtype {value.dtype}, which the skdeepcluster file "
                            "format cannot store (bool, int and float scalars only).")
        return {_TAG: "numpy_scalar", "dtype": value.dtype.str, "value": self.encode(value.item(), where)}

    def _encode_array(self, array, where):
        if array.dtype.kind in "biufc":
            key = self._array_keys.get(id(array))
            if key is None:
                key = self._array_keys[id(array)] = f"array.{len(self._array_keys)}"
                if array.dtype in _NATIVE_DTYPES:
                    self.tensors[key] = torch.from_numpy(np.array(array, order="C", copy=True))
                else:
                    raw = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8).copy()
                    self.tensors[key] = torch.from_numpy(raw)
            return {_TAG: "ndarray", "key": key, "dtype": array.dtype.str, "shape": list(array.shape),
                    "raw_bytes": array.dtype not in _NATIVE_DTYPES}
        if array.dtype.kind == "U" or (array.dtype == object and all(type(item) is str for item in array.flat)):
            return {_TAG: "str_array", "dtype": array.dtype.str, "shape": list(array.shape),
                    "items": [str(item) for item in array.flat]}
        raise TypeError(f"{where} is a numpy array of dtype {array.dtype}, which the skdeepcluster file format "
                        "cannot store (numeric, bool and str arrays only).")

    def _encode_module(self, module, name):
        prefix = f"{name}."
        state = module.state_dict()
        for key, tensor in state.items():
            self.tensors[prefix + key] = tensor.detach().to("cpu", copy=True)
        dtypes = sorted({str(tensor.dtype).removeprefix("torch.") for tensor in state.values()})
        return {_TAG: "module", "prefix": prefix, "dtypes": dtypes}


# ---- decoding ----------------------------------------------------------------------------------


class _Decoder:
    """Inverse of :class:`_Encoder`; modules are left as placeholders for :func:`_rebuild_modules`."""

    def __init__(self, tensors, allow_arrays=True):
        self.tensors = tensors
        self.allow_arrays = allow_arrays
        self.used_keys = set()
        self._arrays = {}

    def decode(self, value, where):
        if value is None or type(value) in (bool, str, int, float):
            return value
        if type(value) is list:
            return [self.decode(item, where) for item in value]
        if type(value) is not dict or _TAG not in value:
            raise ValueError(f"{where}: unexpected JSON value {_short(value)}.")
        tag = value[_TAG]
        if tag == "float":
            text = value["value"]
            if text not in ("nan", "inf", "-inf"):
                raise ValueError(f"{where}: invalid float {_short(text)}.")
            return float(text)
        if tag == "tuple":
            return tuple(self.decode(item, where) for item in _expect(value["items"], list, where))
        if tag == "dict":
            items = _expect(value["items"], dict, where)
            return {key: self.decode(item, f"{where}[{key!r}]") for key, item in items.items()}
        if tag == "numpy_scalar":
            dtype = _dtype(value["dtype"], "biuf", where)
            item = self.decode(value["value"], where)
            if type(item) not in (bool, int, float):
                raise ValueError(f"{where}: invalid numpy scalar {_short(item)}.")
            return dtype.type(item)
        if tag == "str_array":
            dtype = _dtype(value["dtype"], "UO", where)
            shape = _shape(value["shape"], where)
            items = _expect(value["items"], list, where)
            if not all(type(item) is str for item in items) or len(items) != math.prod(shape):
                raise ValueError(f"{where}: invalid str array.")
            array = np.empty(len(items), dtype=dtype)
            array[:] = items
            return array.reshape(shape)
        if tag == "ndarray" and self.allow_arrays:
            return self._decode_array(value, where)
        if tag == "module" and self.allow_arrays:
            return _ModulePlaceholder(_expect(value["prefix"], str, where))
        raise ValueError(f"{where}: unexpected JSON value {_short(value)}.")

    def _decode_array(self, spec, where):
        key = _expect(spec["key"], str, where)
        if not key.startswith("array."):
            raise ValueError(f"{where}: {key!r} is not an array key.")
        dtype = _dtype(spec["dtype"], "biufc", where)
        shape = _shape(spec["shape"], where)
        if key in self._arrays:  # one array under two names, as saved (means_ is cluster_centers_)
            array = self._arrays[key]
            if array.dtype != dtype or array.shape != tuple(shape):
                raise ValueError(f"{where}: array {key!r} is not a {dtype} array of shape {tuple(shape)}.")
            return array
        if key not in self.tensors:
            raise ValueError(f"{where}: {ARRAYS_MEMBER} has no tensor {key!r}.")
        tensor = self.tensors[key]
        if spec.get("raw_bytes"):
            data = tensor.numpy()
            if data.dtype != np.uint8 or data.ndim != 1 or data.size != math.prod(shape) * dtype.itemsize:
                raise ValueError(f"{where}: tensor {key!r} does not hold a {dtype} array of shape {tuple(shape)}.")
            array = np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape).copy()
        else:
            array = tensor.numpy()
            if array.dtype != dtype or array.shape != tuple(shape):
                raise ValueError(f"{where}: tensor {key!r} does not hold a {dtype} array of shape {tuple(shape)}.")
        self.used_keys.add(key)
        self._arrays[key] = array
        return array


class _ModulePlaceholder:
    def __init__(self, prefix):
        self.prefix = prefix


def _expect(value, kind, where):
    if type(value) is not kind:
        raise ValueError(f"{where}: expected a JSON {kind.__name__}, got {_short(value)}.")
    return value


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dtype(text, kinds, where):
    try:
        dtype = np.dtype(_expect(text, str, where))
    except TypeError as exc:
        raise ValueError(f"{where}: invalid dtype {_short(text)}.") from exc
    if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{where}: dtype {dtype} is not allowed here.")
    return dtype


def _shape(shape, where):
    if type(shape) is not list or not all(type(size) is int and size >= 0 for size in shape):
        raise ValueError(f"{where}: invalid shape {_short(shape)}.")
    return shape


def _check_attribute_name(cls, name, param_names):
    """Names save writes and load sets: no dunders, no parameters, nothing the class defines."""
    if (not name.isidentifier() or name.startswith("__") or name in param_names or hasattr(cls, name)):
        raise ValueError(f"{cls.__name__} attribute {name!r} cannot be stored in or set from a skdeepcluster "
                         "file (it is a parameter, a dunder name or defined by the class).")


# ---- save --------------------------------------------------------------------------------------


def save_estimator(estimator, path):
    """Write ``estimator`` to ``path`` atomically; the implementation of ``save``."""
    cls = type(estimator)
    registered = _ESTIMATORS.get(cls.__name__)
    if registered is None or registered[0] is not cls:
        raise TypeError(f"{cls.__name__} cannot be saved in the skdeepcluster file format, which holds "
                        f"skdeepcluster's own estimators only ({', '.join(_ESTIMATORS)}); use pickle or joblib.")
    check_is_fitted(estimator)
    builders = registered[1]
    params = estimator.get_params(deep=False)
    if isinstance(params.get("random_state"), np.random.RandomState):
        raise ValueError("random_state is a numpy RandomState instance, which the skdeepcluster file format "
                         "cannot store. Set an int or None first, e.g. est.set_params(random_state=0), or use "
                         "pickle or joblib.")
    encoder = _Encoder(builders)
    encoded_params = {}
    for name, value in params.items():
        encoded = encoder.encode(value, f"parameter {name}")
        if encoder.tensors:
            raise TypeError(f"parameter {name} holds a numpy array, which the skdeepcluster file format cannot "
                            "store as a parameter; use a list or a tuple.")
        encoded_params[name] = encoded
    state = {}
    for name, value in vars(estimator).items():
        if name in params:
            continue
        _check_attribute_name(cls, name, params)
        if isinstance(value, torch.nn.Module) and name in builders:
            _check_builder(estimator, name, value, builders[name])
        state[name] = encoder.encode(value, f"attribute {name}", top_level=name)

    buffer = io.BytesIO()
    torch.save(encoder.tensors, buffer)
    arrays = buffer.getvalue()
    from . import __version__  # here: skdeepcluster/__init__.py imports this module before defining it

    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "written_by": {"skdeepcluster": __version__, "torch": torch.__version__,
                       "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "estimator": cls.__name__,
        "params": encoded_params,
        "state": state,
        "arrays_sha256": hashlib.sha256(arrays).hexdigest(),
    }
    text = json.dumps(document, indent=1, allow_nan=False)
    _write_atomically(os.fspath(path), text.encode("utf-8"), arrays)


def _check_builder(estimator, name, module, builder):
    """Refuse to write a file whose network the builder would not rebuild (e.g. after set_params)."""
    with torch.device("meta"):
        rebuilt = builder(estimator)
    expected = {key: tuple(tensor.shape) for key, tensor in rebuilt.state_dict().items()}
    actual = {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}
    if expected != actual:
        raise ValueError(f"{name} does not match the network that {type(estimator).__name__}'s parameters "
                         "describe (were parameters such as hidden_dims changed with set_params after fit?); "
                         "refit, restore the parameters, or use pickle or joblib.")


def _write_atomically(path, json_bytes, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    # os.open honours the umask (unlike mkstemp's 0600), so the file gets the usual permissions.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            with zipfile.ZipFile(file, "w") as archive:
                archive.writestr(JSON_MEMBER, json_bytes, compress_type=zipfile.ZIP_DEFLATED)
                archive.writestr(ARRAYS_MEMBER, arrays, compress_type=zipfile.ZIP_STORED)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise


# ---- load --------------------------------------------------------------------------------------


def load(path):
    """Load an estimator saved with ``save``, without unpickling any code.

    The file is a zip archive of JSON (format, versions, parameters and fitted attributes)
    and tensors. The tensors are read with ``torch.load(weights_only=True)`` onto the CPU,
    only skdeepcluster's own estimator classes can be instantiated, and every network is
    rebuilt from the estimator's parameters before its weights are loaded; a file that asks
    for anything else is refused with a ``ValueError``, so loading a file from an untrusted
    source cannot run code. A model trained on CUDA is loaded onto the CPU, and moved back
    to its ``device_`` when CUDA is available on this machine.

    Parameters
    ----------
    path : str or os.PathLike
        File written by ``S3VDCClustering.save`` or ``LoSTerClustering.save``.

    Returns
    -------
    estimator : S3VDCClustering or LoSTerClustering
        The fitted estimator, with the same parameters and fitted attributes as the one
        saved; it predicts identically on the same device.

    Raises
    ------
    ValueError
        If the file is not a skdeepcluster model file, was written by a newer version of
        the format, was corrupted or edited (SHA-256 mismatch), names an estimator class
        that is not skdeepcluster's, holds objects other than tensors in its weights, or
        holds weights that do not fit the estimator's network.

    See Also
    --------
    S3VDCClustering.save : Save a fitted S3VDC model.
    LoSTerClustering.save : Save a fitted LoSTer model.
    joblib.load : Load a pickled model, which can execute code stored in the file.

    Notes
    -----
    The SHA-256 of the weights detects corruption and accidental edits; it is not a
    signature, since anyone can recompute it. Optimiser states are not saved. See the
    user guide's page on persistence for the versioning policy.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from skdeepcluster import S3VDCClustering, load
    >>> X = np.random.RandomState(0).normal(size=(40, 3))
    >>> model = S3VDCClustering(n_clusters=2, latent_dim=2, hidden_dims=(8,), warmup_epochs=2,
    ...                         anneal_epochs=1, static_epochs=1, n_periods=1, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     model.save(os.path.join(folder, "model.skdc"))
    ...     restored = load(os.path.join(folder, "model.skdc"))
    >>> bool((restored.predict(X) == model.predict(X)).all())
    True
    """
    path = os.fspath(path)
    json_bytes, arrays = _read_members(path)
    try:
        document = json.loads(json_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path!r} is not a skdeepcluster model file: {JSON_MEMBER} is not valid JSON.") from exc
    if type(document) is not dict or document.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a skdeepcluster model file: {JSON_MEMBER} does not declare the format "
                         f"{FORMAT_NAME!r}.")
    version = document.get("format_version")
    if type(version) is not int or version < 1:
        raise ValueError(f"{path!r} has an invalid format_version {_short(version)}.")
    if version > FORMAT_VERSION:
        written_by = document.get("written_by")
        writer = written_by.get("skdeepcluster") if type(written_by) is dict else None
        raise ValueError(f"{path!r} uses skdeepcluster file format version {version}"
                         f"{f' (written by skdeepcluster {writer})' if type(writer) is str else ''}, but this "
                         f"skdeepcluster reads format versions up to {FORMAT_VERSION}. Upgrade skdeepcluster to "
                         "load it.")
    expected_hash = document.get("arrays_sha256")
    if type(expected_hash) is not str or hashlib.sha256(arrays).hexdigest() != expected_hash.lower():
        raise ValueError(f"{path!r} is corrupted or was modified: the SHA-256 of {ARRAYS_MEMBER} does not match "
                         f"the one recorded in {JSON_MEMBER}.")
    class_name = document.get("estimator")
    if type(class_name) is not str or class_name not in _ESTIMATORS:
        raise ValueError(f"{path!r} asks for the estimator class {_short(class_name)}, which is not one of "
                         f"skdeepcluster's estimators ({', '.join(_ESTIMATORS)}); refused.")
    tensors = _load_tensors(path, arrays)
    try:
        return _rebuild(class_name, document, tensors)
    except ValueError as exc:
        raise ValueError(f"{path!r} was refused: {exc}") from exc
    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError) as exc:  # malformed or edited JSON
        raise ValueError(f"{path!r} is not a valid skdeepcluster model file: {type(exc).__name__}: {exc}") from exc


def _read_members(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {JSON_MEMBER, ARRAYS_MEMBER} - names
            if missing:
                raise ValueError(f"{path!r} is not a skdeepcluster model file: the archive has no "
                                 f"{' or '.join(sorted(missing))}.")
            return archive.read(JSON_MEMBER), archive.read(ARRAYS_MEMBER)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ValueError(f"{path!r} is not a skdeepcluster model file (not a readable zip archive: "
                         f"{exc}); it may be truncated or written by pickle/joblib.") from exc


def _load_tensors(path, arrays):
    try:
        tensors = torch.load(io.BytesIO(arrays), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path!r} was refused: {ARRAYS_MEMBER} contains objects other than tensors, which "
                         "weights_only loading does not unpickle. The file was not written by skdeepcluster's "
                         "save (or was tampered with); nothing in it was run.") from exc
    except Exception as exc:  # noqa: BLE001 - any other failure of a corrupt member
        raise ValueError(f"{path!r} is corrupted: {ARRAYS_MEMBER} could not be read ({exc}).") from exc
    if type(tensors) is not dict or not all(type(key) is str and isinstance(value, torch.Tensor)
                                            for key, value in tensors.items()):
        raise ValueError(f"{path!r} was refused: {ARRAYS_MEMBER} is not a dict of named tensors.")
    return tensors


def _rebuild(class_name, document, tensors):
    cls, builders = _ESTIMATORS[class_name]
    params_decoder = _Decoder({}, allow_arrays=False)
    params = {name: params_decoder.decode(value, f"parameter {name}")
              for name, value in _expect(document["params"], dict, "params").items()}
    param_names = set(cls._get_param_names())
    if set(params) != param_names:
        raise ValueError(f"the saved parameters of {class_name} do not match this version's: unknown "
                         f"{sorted(set(params) - param_names)}, missing {sorted(param_names - set(params))}.")
    estimator = cls(**params)
    decoder = _Decoder(tensors)
    modules = {}
    for name, value in _expect(document["state"], dict, "state").items():
        _check_attribute_name(cls, name, param_names)
        decoded = decoder.decode(value, f"attribute {name}")
        if isinstance(decoded, _ModulePlaceholder):
            if name not in builders or decoded.prefix != f"{name}.":
                raise ValueError(f"attribute {name} of {class_name} cannot hold a network.")
            modules[name] = decoded.prefix
        else:
            setattr(estimator, name, decoded)
    used = set(decoder.used_keys)
    for name, prefix in modules.items():
        weights = {key[len(prefix):]: tensor for key, tensor in tensors.items() if key.startswith(prefix)}
        used.update(prefix + key for key in weights)
        setattr(estimator, name, _rebuild_module(estimator, name, builders[name], weights))
    unused = set(tensors) - used
    if unused:
        raise ValueError(f"{ARRAYS_MEMBER} holds tensors no attribute refers to: {sorted(unused)[:5]}.")
    estimator._move_to_fitted_device()
    return estimator


def _rebuild_module(estimator, name, builder, weights):
    # On the meta device: no memory, no initialisation and no draw from torch's global generator.
    with torch.device("meta"):
        module = builder(estimator)
    expected = {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}
    actual = {key: tuple(tensor.shape) for key, tensor in weights.items()}
    if expected != actual:
        missing, unexpected = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        mismatched = sorted(key for key in set(expected) & set(actual) if expected[key] != actual[key])
        raise ValueError(f"the saved weights of {name} do not fit {type(estimator).__name__}'s network: missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]}, wrong shape {mismatched[:5]}.")
    # assign=True adopts the saved tensors, with their dtype (float64 for fitted networks).
    module.load_state_dict(weights, strict=True, assign=True)
    if any(tensor.is_meta for tensor in [*module.parameters(), *module.buffers()]):
        raise ValueError(f"the saved weights of {name} leave parts of the network uninitialised.")
    return module.eval()


