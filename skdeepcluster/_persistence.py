"""A safe, versioned file format for fitted estimators: ``est.save(path)`` and :func:`load`.

A model file (format version 2) is a zip archive with two stored (uncompressed) members:

``skdeepcluster.json``
    The format name and version, the library versions that wrote it, the estimator class
    name, ``get_params()`` and the fitted attributes, all as tagged JSON, and the SHA-256 of
    ``arrays.safetensors``.
``arrays.safetensors``
    The numeric arrays the JSON refers to by key and the networks' ``state_dict`` entries,
    in the safetensors layout (an 8-byte little-endian header length, a JSON header naming
    each tensor's dtype, shape and byte range, then the raw bytes). It is read here with
    ``numpy.frombuffer``: no unpickler is involved.

Format version 1 (skdeepcluster before this change) held ``arrays.pt`` instead, written by
:func:`torch.save`; it is still read, with ``torch.load(weights_only=True)``, on torch >= 2.10
only (older torch releases have published bypasses of ``weights_only``).

Nothing is ever imported or called by a name read from the file: the estimator class comes
from the registry of estimator classes that declared themselves with :func:`register_estimator`
(skdeepcluster's own), and every network is rebuilt from the estimator's parameters and
fitted attributes by the estimator's own ``_fitted_network`` (the hook ``fit`` builds it
with), then filled with the saved weights. Every size is checked against a limit (see ``LIMITS``) before the
memory it implies is allocated, so a small crafted file cannot make ``load`` allocate much
more than the file's own size.

Fitted attributes are encoded generically (every ``vars(estimator)`` entry that is not a
constructor parameter), so new attributes need no change here as long as their values are
None, bool, int, float, str, lists, tuples, dicts with str keys, numpy numeric or str
arrays, numpy scalars, or the estimator's network ``module_``. Anything else is a
``TypeError`` at save time, never a silent omission.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import pickle
import secrets
import stat
import struct
import sys
import warnings
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import sklearn
import torch
from sklearn.utils.validation import check_is_fitted

from ._version import __version__

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# A registered estimator class (the base class would be an import cycle: _base imports this module).
_EstimatorClass = TypeVar("_EstimatorClass", bound="type[BaseEstimator]")

FORMAT_NAME = "skdeepcluster-model"
FORMAT_VERSION = 2
JSON_MEMBER = "skdeepcluster.json"
# The member holding the tensors, by format version.
ARRAYS_MEMBERS = {1: "arrays.pt", 2: "arrays.safetensors"}
ARRAYS_MEMBER = ARRAYS_MEMBERS[FORMAT_VERSION]
_TAG = "$type"

# What load accepts, checked before the memory each implies is allocated.
MAX_FILE_BYTES = 2**31  # default of load(max_bytes=...): the whole file, hence the tensors
LIMITS = {
    "json_bytes": 32 * 2**20,  # skdeepcluster.json, uncompressed (a long history_, many feature names)
    "json_depth": 32,  # nesting of JSON arrays and objects (the format itself needs about 8)
    "tensor_header_bytes": 16 * 2**20,  # the safetensors header
    "tensors": 4096,  # tensors in the file (a network has a few dozen)
    "central_directory_bytes": 2**16,  # the zip's table of contents: two members need ~150 bytes
    "array_dimensions": 32,
}
# torch releases from which torch.load(weights_only=True) has no published bypass: 2.6.0
# fixed remote code execution (CVE-2025-32434), 2.10.0 a memory corruption (CVE-2026-24747).
_SAFE_WEIGHTS_ONLY_TORCH = (2, 10)

# numpy dtypes stored with their own safetensors dtype (little-endian); any other numeric
# dtype (big-endian, complex) is stored as its raw bytes in a U8 tensor.
_SAFETENSORS_DTYPES = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "I32": "<i4",
                       "U32": "<u4", "I64": "<i8", "U64": "<u8", "F16": "<f2", "F32": "<f4", "F64": "<f8"}
_SAFETENSORS_NAMES = {np.dtype(dtype): name for name, dtype in _SAFETENSORS_DTYPES.items()}


class ModelFileError(ValueError):
    """A file that :func:`skdeepcluster.load` refuses.

    A subclass of ``ValueError``, so ``except ValueError`` catches every refusal; the message
    starts with the file's path and says what was wrong with the file.

    Parameters
    ----------
    path : str
        The file that was refused.
    message : str
        What was wrong with it, appended to the path.

    Attributes
    ----------
    path : str
        The file that was refused.

    See Also
    --------
    load : Load an estimator saved with ``save``.

    Examples
    --------
    >>> from skdeepcluster import ModelFileError, load
    >>> try:
    ...     load(__file__)
    ... except ModelFileError as error:
    ...     print(error.path == __file__)
    True
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path!r} {message}")
        self.path, self._message = path, message

    def __reduce__(self):  # pickled by (path, message), e.g. from a joblib or Dask worker
        return type(self), (self.path, self._message)


def check_network_size(estimator: BaseEstimator, counts: tuple[int, int], hidden: Sequence[int], n_inputs: int) -> None:
    """Refuse parameters that describe a network larger than the weights present (the parameter budget).

    ``counts`` is (number of tensors, number of values) saved for the network; ``hidden`` the
    widths of its layers (each layer has at least one weight tensor with at least that many
    values per input) and ``n_inputs`` the input size. Necessary conditions for any valid file,
    checked before a single layer is built: building a network of 10^5 layers, even without
    memory on torch's meta device, takes minutes. For an estimator's ``_check_saved_network``.
    """
    n_tensors, n_values = counts
    n_clusters, latent_dim = fitted_centers(estimator)
    needed_values = n_inputs * (hidden[0] if hidden else latent_dim) + sum(hidden) + n_clusters * latent_dim
    if len(hidden) > n_tensors or needed_values > n_values:
        raise ValueError(f"the parameters of {type(estimator).__name__} describe a network of at least "
                         f"{len(hidden)} layers and {needed_values} weights, but the file holds {n_tensors} tensors "
                         f"with {n_values} values for module_.")


def positive_int(value: object, what: str) -> int:
    """``value`` if it is a positive int (not a bool), else a ValueError naming ``what``."""
    if type(value) is not int or value < 1:
        raise ValueError(f"{what} must be a positive int; got {_short(value)}.")
    return value


def fitted_centers(estimator: BaseEstimator) -> tuple[int, ...]:
    """The shape of a loaded estimator's ``cluster_centers_``: (n_clusters, latent_dim), checked."""
    centers = getattr(estimator, "cluster_centers_", None)
    if type(centers) is not np.ndarray or centers.ndim != 2 or 0 in centers.shape:
        raise ValueError("cluster_centers_ is not a non-empty 2-D array.")
    return centers.shape


# The only classes load() instantiates, by class name. Each provides, besides being a
# _BaseDeepClustering: _check_saved_network(counts) (the parameter budget of its network),
# _fitted_network() (an untrained network of the fitted shape, built by fit's own hook) and
# _probe_sample() (an input a loaded model must predict without error).
_ESTIMATORS: dict[str, type[BaseEstimator]] = {}


def register_estimator(cls: _EstimatorClass) -> _EstimatorClass:
    """Class decorator: let ``save`` write and ``load`` rebuild estimators of ``cls``."""
    registered = _ESTIMATORS.setdefault(cls.__name__, cls)
    if registered is not cls:
        raise ValueError(f"another class named {cls.__name__} is already registered with the model file format.")
    return cls


# ---- encoding ----------------------------------------------------------------------------------


class _Encoder:
    """Tagged JSON for values, with numeric arrays and network weights collected in ``arrays``."""

    def __init__(self, network_attributes):
        self.network_attributes = network_attributes
        self.arrays = {}
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
        if isinstance(value, torch.nn.Module) and top_level in self.network_attributes:
            return self._encode_module(value, top_level)
        if isinstance(value, torch.nn.Module):
            raise TypeError(f"{where} is a torch module that the skdeepcluster file format cannot rebuild: only "
                            f"the attributes {sorted(self.network_attributes)} of this estimator may hold networks.")
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
            raw_bytes = array.dtype not in _SAFETENSORS_NAMES
            key = self._array_keys.get(id(array))
            if key is None:
                key = self._array_keys[id(array)] = f"array.{len(self._array_keys)}"
                contiguous = np.array(array, order="C", copy=True)  # (ascontiguousarray makes 0-d arrays 1-d)
                self.arrays[key] = np.frombuffer(contiguous.tobytes(), dtype=np.uint8) if raw_bytes else contiguous
            return {_TAG: "ndarray", "key": key, "dtype": array.dtype.str, "shape": list(array.shape),
                    "raw_bytes": raw_bytes}
        if array.dtype.kind == "U" or (array.dtype == object and all(type(item) is str for item in array.flat)):
            return {_TAG: "str_array", "dtype": array.dtype.str, "shape": list(array.shape),
                    "items": [str(item) for item in array.flat]}
        raise TypeError(f"{where} is a numpy array of dtype {array.dtype}, which the skdeepcluster file format "
                        "cannot store (numeric, bool and str arrays only).")

    def _encode_module(self, module, name):
        prefix = f"{name}."
        state = module.state_dict()
        for key, tensor in state.items():
            array = tensor.detach().to("cpu", copy=True).numpy()
            if array.dtype not in _SAFETENSORS_NAMES:
                raise TypeError(f"{name}.{key} is a tensor of dtype {tensor.dtype}, which the skdeepcluster file "
                                "format cannot store.")
            self.arrays[prefix + key] = array
        dtypes = sorted({str(tensor.dtype).removeprefix("torch.") for tensor in state.values()})
        return {_TAG: "module", "prefix": prefix, "dtypes": dtypes}


def _safetensors_bytes(arrays):
    """``arrays`` (name -> numpy array of a safetensors dtype) in the safetensors layout."""
    header, offset = {}, 0
    for name, array in arrays.items():
        header[name] = {"dtype": _SAFETENSORS_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the layout's padding: the data starts 8-byte aligned
    little_endian = (np.asarray(array, order="C").astype(array.dtype.newbyteorder("<"), copy=False)
                     for array in arrays.values())
    return b"".join([struct.pack("<Q", len(text)), text, *(array.tobytes() for array in little_endian)])


# ---- decoding ----------------------------------------------------------------------------------


class _Decoder:
    """Inverse of :class:`_Encoder`; modules are left as placeholders for :func:`_rebuild`."""

    def __init__(self, arrays, allow_arrays=True):
        self.arrays = arrays
        self.allow_arrays = allow_arrays
        self.used_keys = set()
        self._decoded = {}

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
            return self._decode_str_array(value, where)
        if tag == "ndarray" and self.allow_arrays:
            return self._decode_array(value, where)
        if tag == "module" and self.allow_arrays:
            return _ModulePlaceholder(_expect(value["prefix"], str, where))
        raise ValueError(f"{where}: unexpected JSON value {_short(value)}.")

    @staticmethod
    def _decode_str_array(spec, where):
        dtype = _dtype(spec["dtype"], "UO", where)
        shape = _shape(spec["shape"], where)
        items = _expect(spec["items"], list, where)
        if not all(type(item) is str for item in items) or len(items) != math.prod(shape):
            raise ValueError(f"{where}: invalid str array.")
        # The declared width allocates width * 4 bytes per item: it must be the items' own, so
        # that "<U500000000" cannot turn a few bytes of JSON into gigabytes.
        longest = max(map(len, items), default=0)
        if dtype.kind == "U" and dtype.itemsize // 4 > max(longest, 64):
            raise ValueError(f"{where}: dtype {dtype} is wider than the longest of its strings ({longest}).")
        array = np.empty(len(items), dtype=dtype)
        array[:] = items
        return array.reshape(shape)

    def _decode_array(self, spec, where):
        key = _expect(spec["key"], str, where)
        if not key.startswith("array."):
            raise ValueError(f"{where}: {key!r} is not an array key.")
        dtype = _dtype(spec["dtype"], "biufc", where)
        shape = tuple(_shape(spec["shape"], where))
        if key in self._decoded:  # one array under two names, as saved (means_ is cluster_centers_)
            array = self._decoded[key]
            if array.dtype != dtype or array.shape != shape:
                raise ValueError(f"{where}: array {key!r} is not a {dtype} array of shape {shape}.")
            return array
        if key not in self.arrays:
            raise ValueError(f"{where}: the file has no tensor {key!r}.")
        data = self.arrays[key]
        if spec.get("raw_bytes"):
            if data.dtype != np.uint8 or data.ndim != 1 or data.size != math.prod(shape) * dtype.itemsize:
                raise ValueError(f"{where}: tensor {key!r} does not hold a {dtype} array of shape {shape}.")
            array = np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape).copy()
        else:
            if data.dtype.newbyteorder("=") != dtype.newbyteorder("=") or data.shape != shape:
                raise ValueError(f"{where}: tensor {key!r} does not hold a {dtype} array of shape {shape}.")
            array = data.astype(dtype, copy=False)
        self.used_keys.add(key)
        self._decoded[key] = array
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
    if (type(shape) is not list or len(shape) > LIMITS["array_dimensions"]
            or not all(type(size) is int and size >= 0 for size in shape)):
        raise ValueError(f"{where}: invalid shape {_short(shape)}.")
    return shape


def _check_attribute_name(cls, name, param_names):
    """Names save writes and load sets: no dunders, no parameters, nothing the class defines."""
    if (not name.isidentifier() or name.startswith("__") or name in param_names or hasattr(cls, name)):
        raise ValueError(f"{cls.__name__} attribute {name!r} cannot be stored in or set from a skdeepcluster "
                         "file (it is a parameter, a dunder name or defined by the class).")


# ---- save --------------------------------------------------------------------------------------


def save_estimator(estimator: BaseEstimator, path: str | os.PathLike[str]) -> None:
    """Write ``estimator`` to ``path`` atomically; the implementation of ``save``."""
    path = os.fspath(path)
    cls = type(estimator)
    if _ESTIMATORS.get(cls.__name__) is not cls:
        raise TypeError(f"{cls.__name__} cannot be saved in the skdeepcluster file format, which holds "
                        f"skdeepcluster's own estimators only ({', '.join(_ESTIMATORS)}); use pickle or joblib.")
    check_is_fitted(estimator)
    # One snapshot of the estimator: a fit finishing in another thread swaps in a new dict
    # rather than changing this one, so the file holds one model.
    attributes = vars(estimator)
    params = {name: attributes[name] for name in estimator._get_param_names()}
    if isinstance(params.get("random_state"), np.random.RandomState):
        raise ValueError("random_state is a numpy RandomState instance, which the skdeepcluster file format "
                         "cannot store. Set an int or None first, e.g. est.set_params(random_state=0), or use "
                         "pickle or joblib.")
    encoder = _Encoder(("module_",))
    encoded_params = {}
    for name, value in params.items():
        encoded = encoder.encode(value, f"parameter {name}")
        if encoder.arrays:
            raise TypeError(f"parameter {name} holds a numpy array, which the skdeepcluster file format cannot "
                            "store as a parameter; use a list or a tuple.")
        encoded_params[name] = encoded
    state = {}
    snapshot = object.__new__(cls)
    snapshot.__dict__.update(attributes)
    snapshot._check_architecture_unchanged()  # e.g. set_params(latent_dim=...) after fit
    for name, value in attributes.items():
        if name in params:
            continue
        _check_attribute_name(cls, name, params)
        if isinstance(value, torch.nn.Module) and name == "module_":
            _check_builder(snapshot, name, value)
        state[name] = encoder.encode(value, f"attribute {name}", top_level=name)

    arrays = _safetensors_bytes(encoder.arrays)

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
    text = json.dumps(document, indent=1, allow_nan=False).encode("utf-8")
    if len(text) > LIMITS["json_bytes"]:
        raise ValueError(f"the parameters and fitted attributes of this {cls.__name__} take {len(text)} bytes of "
                         f"JSON, more than load accepts ({LIMITS['json_bytes']}); use pickle or joblib.")
    _write_atomically(path, text, arrays)


def _check_builder(estimator, name, module):
    """Refuse to write a file whose network ``load`` would not rebuild (e.g. after set_params)."""
    with torch.device("meta"):
        rebuilt = estimator._fitted_network()
    expected = {key: tuple(tensor.shape) for key, tensor in rebuilt.state_dict().items()}
    actual = {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}
    if expected != actual:
        raise ValueError(f"{name} does not match the network that {type(estimator).__name__}'s parameters "
                         "describe (were parameters such as hidden_dims changed with set_params after fit?); "
                         "refit, restore the parameters, or use pickle or joblib.")


def _write_atomically(path, json_bytes, arrays):
    """Write the archive next to ``path``, flush it to disk, then rename it over ``path``.

    An interrupted save leaves ``path`` as it was. On Linux the file is written unnamed
    (``O_TMPFILE``) and only gets a name once complete, so even ``kill -9`` leaves nothing
    behind; elsewhere (or where the file system cannot link an unnamed file) a named
    temporary file is removed on any exception, and the leftovers of killed processes are
    removed by the next save to the same path. An existing file keeps its permission bits;
    a new one gets the usual ``0o666`` less the umask. The folder is synced after the
    rename, so that the new file survives a power cut.
    """
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    temporary = _write_unnamed(folder, name, json_bytes, arrays, mode)
    if temporary is None:
        _remove_leftovers(folder, name)
        temporary = _temporary_name(folder, name)
        # os.open honours the umask (unlike mkstemp's 0600), so the file gets the usual permissions.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(descriptor, "wb") as file:
                _write_archive(file, json_bytes, arrays, mode)
            if mode is not None and not hasattr(os, "fchmod"):
                os.chmod(temporary, mode)
        except BaseException:
            _remove_quietly(temporary)
            raise
    try:
        os.replace(temporary, path)
    except BaseException:
        _remove_quietly(temporary)
        raise
    _fsync_folder(folder)


def _write_archive(file, json_bytes, arrays, mode):
    with zipfile.ZipFile(file, "w") as archive:
        # Stored, not deflated: every member's size is then its size in the file.
        archive.writestr(JSON_MEMBER, json_bytes, compress_type=zipfile.ZIP_STORED)
        archive.writestr(ARRAYS_MEMBER, arrays, compress_type=zipfile.ZIP_STORED)
    file.flush()
    if mode is not None and hasattr(os, "fchmod"):
        os.fchmod(file.fileno(), mode)
    os.fsync(file.fileno())


_unnamed_files_link = True  # until an attempt fails in this process


def _write_unnamed(folder, name, json_bytes, arrays, mode):
    """The path of a complete temporary file written unnamed first (Linux), or None where unsupported."""
    global _unnamed_files_link
    if not hasattr(os, "O_TMPFILE") or not _unnamed_files_link:
        return None
    try:
        descriptor = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666)
    except OSError:  # a file system without O_TMPFILE
        return None
    with os.fdopen(descriptor, "wb") as file:
        _write_archive(file, json_bytes, arrays, mode)
        temporary = _temporary_name(folder, name)
        try:
            os.link(f"/proc/self/fd/{file.fileno()}", temporary, follow_symlinks=True)
        except OSError:  # no /proc, or a sandbox that cannot link it: named files from now on
            _unnamed_files_link = False
            return None
    return temporary


def _remove_quietly(path):
    with contextlib.suppress(OSError):
        os.remove(path)


def _temporary_name(folder, name):
    # The pid lets a later save tell a dead process's leftover from a save in progress.
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove_leftovers(folder, name):
    """Remove the temporary files of saves to ``name`` whose process no longer runs."""
    prefix = f".{name}."
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        parts = entry[len(prefix):].split(".")
        if not (entry.startswith(prefix) and len(parts) == 3 and parts[2] == "tmp" and parts[0].isdigit()):
            continue
        if int(parts[0]) != os.getpid() and not _process_exists(int(parts[0])):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, entry))


def _process_exists(pid):
    if sys.platform == "win32":
        return True  # no cheap check: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _fsync_folder(folder):
    """Make the rename durable: on POSIX a rename is only on disk once its folder is synced."""
    if sys.platform == "win32":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems cannot sync a folder; the file itself is synced
        pass
    finally:
        os.close(descriptor)


# ---- load --------------------------------------------------------------------------------------


def load(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], *,
         max_bytes: int = MAX_FILE_BYTES) -> BaseEstimator:
    """Load an estimator saved with ``save``, without unpickling any code.

    The file is a zip archive of JSON (format, versions, parameters and fitted attributes)
    and tensors in the safetensors layout, read with ``numpy.frombuffer``. Only
    skdeepcluster's own estimator classes can be instantiated, the parameters pass the
    estimator's own validation, every network is rebuilt from the estimator's parameters
    before its weights are loaded, and every size is checked against a limit before the
    memory it implies is allocated; a file that asks for anything else is refused with a
    ``ValueError``. Loading a file from an untrusted source therefore cannot run code, nor
    allocate much more memory than the file's size. A model trained on CUDA is loaded onto
    the CPU, and moved back to its ``device_`` when CUDA is available on this machine.

    Parameters
    ----------
    path : str or os.PathLike
        File written by ``S3VDCClustering.save`` or ``LoSTerClustering.save``; it must be a
        regular file (not a device, a pipe or a folder).
    max_bytes : int, default=2**31
        The largest file accepted, in bytes. Loading needs about twice the file's size in
        memory; raise it for larger models.

    Returns
    -------
    estimator : S3VDCClustering or LoSTerClustering
        The fitted estimator, with the same parameters and fitted attributes as the one
        saved (parameters that did not exist when an older file was written take their
        default); it predicts identically on the same device.

    Raises
    ------
    ModelFileError
        A ``ValueError`` subclass, whose message starts with the file's path, if the file is
        not a regular file, is larger than ``max_bytes``, is not a skdeepcluster model file,
        was written by a newer version of the format, was corrupted or edited (SHA-256
        mismatch), exceeds one of the limits on its parts, names an estimator class that is
        not skdeepcluster's, holds invalid or unknown parameters, or holds weights that do
        not fit the estimator's network or are not finite.
    OSError
        If the file cannot be opened (for instance, it does not exist).

    See Also
    --------
    S3VDCClustering.save : Save a fitted S3VDC model.
    LoSTerClustering.save : Save a fitted LoSTer model.
    joblib.load : Load a pickled model, which can execute code stored in the file.

    Notes
    -----
    The SHA-256 of the weights detects corruption and accidental edits; it is not a
    signature, since anyone can recompute it. Optimiser states are not saved. See the
    user guide's page on persistence for the threat model, the limits and the versioning
    policy.

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
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if type(max_bytes) is not int or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive int; got {max_bytes!r}.")
    file = _open_regular_file(path, max_bytes)  # an OSError here: the file could not be opened
    try:
        with file:
            return _load(path, file, max_bytes)
    except (ModelFileError, MemoryError):
        raise
    except ValueError as exc:
        raise ModelFileError(path, f"was refused: {exc}") from exc
    except Exception as exc:
        raise ModelFileError(path, f"is not a valid skdeepcluster model file: {type(exc).__name__}: {exc}") from exc


def _load(path, file, max_bytes):
    json_bytes, version, arrays_name, arrays = _read_members(path, file, max_bytes)
    document = _parse_json(json_bytes, path, JSON_MEMBER)
    if type(document) is not dict or document.get("format") != FORMAT_NAME:
        raise ModelFileError(path, f"is not a skdeepcluster model file: {JSON_MEMBER} does not declare the format "
                                   f"{FORMAT_NAME!r}.")
    _refuse_newer_format(path, json_bytes)
    if document.get("format_version") != version:
        raise ModelFileError(path, f"has an invalid format_version {_short(document.get('format_version'))}: "
                                   f"its members are those of format version {version}.")
    expected_hash = document.get("arrays_sha256")
    if type(expected_hash) is not str or hashlib.sha256(arrays).hexdigest() != expected_hash.lower():
        raise ModelFileError(path, f"is corrupted or was modified: the SHA-256 of {arrays_name} does not match "
                                   f"the one recorded in {JSON_MEMBER}.")
    class_name = document.get("estimator")
    if type(class_name) is not str or class_name not in _ESTIMATORS:
        raise ModelFileError(path, f"asks for the estimator class {_short(class_name)}, which is not one of "
                                   f"skdeepcluster's estimators ({', '.join(_ESTIMATORS)}); refused.")
    tensors = _read_safetensors(path, arrays) if version >= 2 else _read_torch_arrays(path, arrays)
    del arrays
    return _rebuild(class_name, document, tensors)


def _open_regular_file(path, max_bytes):
    """The opened file, if ``path`` is a regular file of at most ``max_bytes`` bytes."""
    # stat first: opening a device or a pipe can block or have effects of its own.
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ModelFileError(path, "is not a regular file (a folder, device, pipe or socket); model files are "
                                   "regular files.")
    file = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb")
    status = os.fstat(file.fileno())
    if not stat.S_ISREG(status.st_mode) or status.st_size > max_bytes:  # (replaced between stat and open)
        file.close()
        if not stat.S_ISREG(status.st_mode):
            raise ModelFileError(path, "is not a regular file.")
        raise ModelFileError(path, f"has {status.st_size} bytes, more than max_bytes={max_bytes}; pass a larger "
                                   "max_bytes to load it if you trust its size.")
    return file


def _check_central_directory(path, file):
    """Refuse zip archives whose table of contents is large, before zipfile parses it into objects."""
    size = file.seek(0, os.SEEK_END)
    tail_size = min(size, 22 + 2**16)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        raise ModelFileError(path, "is not a skdeepcluster model file (not a readable zip archive); it may be "
                                   "truncated or written by pickle/joblib.")
    n_entries, directory_size = struct.unpack("<HL", tail[end + 10:end + 16])
    if (n_entries == 0xFFFF or directory_size == 0xFFFFFFFF) and end >= 20 and tail[end - 20:end - 16] == b"PK\x06\x07":
        record_at = struct.unpack("<Q", tail[end - 12:end - 4])[0]  # the zip64 end record, where the sizes are
        if record_at + 56 > size:
            raise ModelFileError(path, "is not a skdeepcluster model file (its zip64 end record is missing).")
        file.seek(record_at)
        record = file.read(56)
        if record[:4] != b"PK\x06\x06":
            raise ModelFileError(path, "is not a skdeepcluster model file (its zip64 end record is missing).")
        n_entries, directory_size = struct.unpack("<QQ", record[32:48])
    if n_entries > 16 or directory_size > LIMITS["central_directory_bytes"]:
        raise ModelFileError(path, f"is not a skdeepcluster model file: its zip archive lists {n_entries} members in "
                                   f"{directory_size} bytes, where a model file has 2.")
    file.seek(0)


def _read_members(path, file, max_bytes):
    """(JSON bytes, format version, name and bytes of the tensors member), each size checked first."""
    _check_central_directory(path, file)
    try:
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise ModelFileError(path, f"was refused: its zip archive holds several members named "
                                           f"{sorted({n for n in names if names.count(n) > 1})}.")
            versions = [version for version, name in ARRAYS_MEMBERS.items() if name in names]
            if JSON_MEMBER not in names or len(versions) != 1 or len(names) != 2:
                if JSON_MEMBER in names and len(names) == 2:  # perhaps a newer format, with other members
                    _refuse_newer_format(path, _read_member(path, archive, archive.getinfo(JSON_MEMBER),
                                                            LIMITS["json_bytes"]))
                wanted = " and ".join(f"{JSON_MEMBER} + {name}" for name in ARRAYS_MEMBERS.values())
                raise ModelFileError(path, f"is not a skdeepcluster model file: the archive holds {_short(names)}, "
                                           f"not one of {wanted}.")
            version = versions[0]
            json_info, arrays_info = archive.getinfo(JSON_MEMBER), archive.getinfo(ARRAYS_MEMBERS[version])
            json_bytes = _read_member(path, archive, json_info, LIMITS["json_bytes"])
            # Tensors are never compressed (save stores them): their size in memory is their size in the file.
            if arrays_info.compress_type != zipfile.ZIP_STORED or arrays_info.compress_size != arrays_info.file_size:
                raise ModelFileError(path, f"was refused: its {arrays_info.filename} member is compressed; "
                                           "skdeepcluster stores tensors uncompressed.")
            arrays = _read_member(path, archive, arrays_info, max_bytes)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(path, f"is not a skdeepcluster model file (not a readable zip archive: {exc}); it may "
                                   "be truncated or written by pickle/joblib.") from exc
    return json_bytes, version, ARRAYS_MEMBERS[version], arrays


def _refuse_newer_format(path, json_bytes):
    """Refuse a file of a format version newer than this skdeepcluster reads, naming both versions."""
    try:
        document = _parse_json(json_bytes, path, JSON_MEMBER)
    except ModelFileError:
        return
    version = document.get("format_version") if type(document) is dict else None
    if type(version) is int and version > FORMAT_VERSION:
        written_by = document.get("written_by")
        writer = written_by.get("skdeepcluster") if type(written_by) is dict else None
        raise ModelFileError(path, f"uses skdeepcluster file format version {version}"
                                   f"{f' (written by skdeepcluster {writer})' if type(writer) is str else ''}, but "
                                   f"this skdeepcluster reads format versions up to {FORMAT_VERSION}. Upgrade "
                                   "skdeepcluster to load it.")


def _read_member(path, archive, info, limit):
    if info.flag_bits & 0x1:
        raise ModelFileError(path, f"was refused: its {info.filename} member is encrypted.")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(path, f"was refused: its {info.filename} member uses compression method "
                                   f"{info.compress_type}; model files use none (or deflate, in format version 1).")
    if info.file_size > limit:
        raise ModelFileError(path, f"was refused: its {info.filename} member declares {info.file_size} bytes, more "
                                   f"than the {limit} that load accepts.")
    with archive.open(info) as member:
        data = member.read(limit + 1)  # at most limit + 1 bytes, whatever the member claims
    if len(data) != info.file_size:
        raise ModelFileError(path, f"was refused: its {info.filename} member holds {len(data)} bytes, not the "
                                   f"{info.file_size} it declares.")
    return data


def _no_duplicate_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        raise ValueError(f"a JSON object holds the key {_short(next(k for k in keys if keys.count(k) > 1))} twice.")
    return result


def _no_constant(name):
    raise ValueError(f"the JSON holds {name}, which is not JSON.")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the JSON number {_short(text)} is not finite.")
    return value


def _parse_json(data, path, member):
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant,
                           parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(path, f"is not a skdeepcluster model file: {member} is not valid JSON ({exc}).") from exc
    # Depth, iteratively: the decoding that follows recurses into nested values.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > LIMITS["json_depth"]:
            raise ModelFileError(path, f"was refused: {member} nests JSON deeper than {LIMITS['json_depth']} levels.")
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return value


def _read_safetensors(path, data):
    """name -> numpy array from the safetensors layout, each range and size checked before the copy."""
    member = ARRAYS_MEMBERS[2]
    if len(data) < 8:
        raise ModelFileError(path, f"was refused: {member} is shorter than its header.")
    header_size = struct.unpack("<Q", data[:8])[0]
    if header_size > min(LIMITS["tensor_header_bytes"], len(data) - 8):
        raise ModelFileError(path, f"was refused: {member} declares a header of {header_size} bytes, beyond the "
                                   "member or the limit.")
    header = _parse_json(data[8:8 + header_size], path, f"the header of {member}")
    if type(header) is not dict:
        raise ModelFileError(path, f"was refused: the header of {member} is not a JSON object.")
    header.pop("__metadata__", None)
    if len(header) > LIMITS["tensors"]:
        raise ModelFileError(path, f"was refused: {member} holds {len(header)} tensors, more than "
                                   f"{LIMITS['tensors']}.")
    body = memoryview(data)[8 + header_size:]
    entries = []
    for name, spec in header.items():
        where = f"tensor {_short(name)} of {member}"
        if (type(spec) is not dict or spec.get("dtype") not in _SAFETENSORS_DTYPES
                or type(spec.get("data_offsets")) is not list or len(spec["data_offsets"]) != 2
                or not all(type(offset) is int for offset in spec["data_offsets"])):
            raise ModelFileError(path, f"was refused: {where} is not described by a dtype, a shape and data_offsets.")
        dtype = np.dtype(_SAFETENSORS_DTYPES[spec["dtype"]])
        shape = _shape(spec.get("shape"), where)
        begin, end = spec["data_offsets"]
        if math.prod(shape) * dtype.itemsize != end - begin:
            raise ModelFileError(path, f"was refused: {where} has shape {shape} but {end - begin} bytes.")
        entries.append((begin, end, name, dtype, shape))
    # The layout: the tensors tile the data exactly, without holes or overlaps.
    position = 0
    for begin, end, name, _, _ in sorted(entries, key=lambda entry: entry[:2]):
        if begin != position or end < begin:
            raise ModelFileError(path, f"was refused: the tensors of {member} do not tile its data (at {name!r}).")
        position = end
    if position != len(body):
        raise ModelFileError(path, f"was refused: {member} holds {len(body)} bytes of data, its header describes "
                                   f"{position}.")
    return {name: np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
            for begin, end, name, dtype, shape in entries}


def _read_torch_arrays(path, data):
    """Format version 1: ``arrays.pt``, by ``torch.load(weights_only=True)``, on a torch without known bypasses."""
    release = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2] if part.isdigit())
    if release < _SAFE_WEIGHTS_ONLY_TORCH:
        raise ModelFileError(path, f"uses format version 1, whose tensors are read with torch.load(weights_only=True); "
                                   f"torch {torch.__version__} has published bypasses of weights_only (fixed in torch "
                                   f"{'.'.join(map(str, _SAFE_WEIGHTS_ONLY_TORCH))}). Upgrade torch to load it, and "
                                   "save it again to get the current format.")
    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(path, f"was refused: {ARRAYS_MEMBERS[1]} contains objects other than tensors, which "
                                   "weights_only loading does not unpickle. The file was not written by "
                                   "skdeepcluster's save (or was tampered with); nothing in it was run.") from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise ModelFileError(path, f"is corrupted: {ARRAYS_MEMBERS[1]} could not be read ({exc}).") from exc
    if (type(tensors) is not dict or len(tensors) > LIMITS["tensors"]
            or not all(type(key) is str and type(value) is torch.Tensor for key, value in tensors.items())):
        raise ModelFileError(path, f"was refused: {ARRAYS_MEMBERS[1]} is not a dict of at most "
                                   f"{LIMITS['tensors']} named tensors.")
    arrays = {}
    for key, tensor in tensors.items():
        if tensor.is_sparse or tensor.layout != torch.strided or tensor.dtype not in (
                torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                torch.float32, torch.float64, torch.complex64, torch.complex128):
            raise ModelFileError(path, f"was refused: tensor {key!r} of {ARRAYS_MEMBERS[1]} is not a dense tensor of "
                                       "a numpy dtype.")
        arrays[key] = tensor.numpy().copy()
    return arrays


def _parameters(cls, document):
    """The saved parameters, with this version's defaults for those the file predates; unknown ones refused."""
    params = {name: _Decoder({}, allow_arrays=False).decode(value, f"parameter {name}")
              for name, value in _expect(document["params"], dict, "params").items()}
    defaults = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        written_by = document.get("written_by")
        writer = written_by.get("skdeepcluster") if type(written_by) is dict else None
        raise ValueError(f"it holds parameters {unknown} that this skdeepcluster's {cls.__name__} does not have; "
                         f"it was written by {'skdeepcluster ' + writer if type(writer) is str else 'another version'}"
                         ". Load it with that version.")
    return {**defaults, **params}


def _rebuild(class_name, document, arrays):
    cls = _ESTIMATORS[class_name]
    estimator = cls(**_parameters(cls, document))
    estimator._validate_params()  # the estimator's own _parameter_constraints: InvalidParameterError is a ValueError
    param_names = set(cls._get_param_names())
    decoder = _Decoder(arrays)
    modules = {}
    for name, value in _expect(document["state"], dict, "state").items():
        _check_attribute_name(cls, name, param_names)
        decoded = decoder.decode(value, f"attribute {name}")
        if isinstance(decoded, _ModulePlaceholder):
            if name != "module_" or decoded.prefix != f"{name}.":
                raise ValueError(f"attribute {name} of {class_name} cannot hold a network.")
            modules[name] = decoded.prefix
        else:
            setattr(estimator, name, decoded)
    used = set(decoder.used_keys)
    for name, prefix in modules.items():
        weights = {key[len(prefix):]: array for key, array in arrays.items() if key.startswith(prefix)}
        used.update(prefix + key for key in weights)
        estimator._check_saved_network((len(weights), sum(array.size for array in weights.values())))
        setattr(estimator, name, _rebuild_module(estimator, name, weights))
    unused = set(arrays) - used
    if unused:
        raise ValueError(f"the file holds tensors no attribute refers to: {sorted(unused)[:5]}.")
    estimator._complete_fitted_state()  # attributes that files of older versions lack
    check_is_fitted(estimator)
    _probe(estimator)
    estimator._move_to_fitted_device()
    return estimator


def _rebuild_module(estimator, name, weights):
    # On the meta device: no memory, no initialisation and no draw from any generator.
    with torch.device("meta"):
        module = estimator._fitted_network()
    expected = {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}
    actual = {key: tuple(array.shape) for key, array in weights.items()}
    if expected != actual:
        missing, unexpected = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        mismatched = sorted(key for key in set(expected) & set(actual) if expected[key] != actual[key])
        raise ValueError(f"the saved weights of {name} do not fit {type(estimator).__name__}'s network: missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]}, wrong shape {mismatched[:5]}.")
    for key, array in weights.items():
        if array.dtype.kind != "f" or not np.isfinite(array).all():
            raise ValueError(f"the saved weight {name}.{key} is not a finite floating-point array.")
    # assign=True adopts the saved tensors, with their dtype (float64 for fitted networks).
    module.load_state_dict({key: torch.from_numpy(array) for key, array in weights.items()}, strict=True, assign=True)
    if any(tensor.is_meta for tensor in [*module.parameters(), *module.buffers()]):
        raise ValueError(f"the saved weights of {name} leave parts of the network uninitialised.")
    return module.eval()


def _probe(estimator):
    """Predict one made-up sample: a file whose fitted attributes do not fit together fails here, not later."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "X does not have valid feature names"
        proba = estimator.predict_proba(estimator._probe_sample())
    if proba.shape != (1, estimator.cluster_centers_.shape[0]) or not np.isfinite(proba).all():
        raise ValueError("its fitted attributes do not give finite cluster probabilities.")
