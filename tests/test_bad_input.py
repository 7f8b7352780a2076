"""Bad input, exhaustively: a table of inputs crossed with every public method of both estimators.

Every case either works (finite outputs of the right shape and dtype) or raises a clear
``ValueError``/``TypeError`` whose message names the problem; after a failed call the estimator
is exactly as it was (a failed fit leaves an unfitted estimator unfitted and a fitted one with its
previous model). Invalid constructor parameters, generated from ``_parameter_constraints`` plus
hand-written cases, must fail at fit time with an error naming the parameter.

A case that currently fails is marked ``xfail(strict=True)`` with the number of its bug in
``BUGS``; fixing the bug turns it into an XPASS failure, the signal to remove the mark.
"""

import atexit
import copy
import math
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

import skdeepcluster
from skdeepcluster import S3VDCClustering
from tests._configs import ESTIMATORS, LOSTER, S3VDC

# Degenerate inputs legitimately warn (KMeans on identical points, skipped non-finite steps, feature
# names); what is asserted here is the outcome. The feature-name tests check their warnings explicitly.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

# ---- known bugs: every xfail below points at one of these ------------------------------------------

# Open bugs by number, each with its strict xfail cases (Bug(...) outcomes, INVALID_BUGS,
# EXTREME_VALUES entries). The three found while writing this file (NaN from LoSTer
# normalize=False at 1e300, float32 outputs overflowing after the cast, bool accepted as an
# int) are fixed; the cases that found them now assert the fixed behaviour.
BUGS = {}


def bug(number):
    return pytest.mark.xfail(strict=True, reason=f"BUG-{number}: {BUGS[number]}")


# ---- estimators and data -----------------------------------------------------------------------------

# The registry's even tinier configurations: what is tested is the handling of the input, not the clustering.
make_s3vdc = S3VDC.make_input_only


def make_loster(**params):
    # normalize=True: X_TRAIN's 8 columns would be read as feature vectors under "auto"
    # ("loster_raw" covers that path); these cases reach the per-series z-normalisation.
    return LOSTER.make_input_only(**{"normalize": True, **params})


def make_loster_raw(**params):
    return make_loster(**{"normalize": False, **params})


# Keyed by the registry's keys, plus "loster_raw" (normalize=False), which reads the data's levels and
# scales, so that the scale cases reach its network.
MAKERS = {S3VDC.key: make_s3vdc, LOSTER.key: make_loster, "loster_raw": make_loster_raw}
FAMILY = {S3VDC.key: (S3VDC.key,), LOSTER.key: (LOSTER.key,), "loster_raw": ("loster_raw", LOSTER.key)}
CLASSES = {config.key: config.cls for config in ESTIMATORS}
N_SAMPLES, N_FEATURES = 30, 8
COLUMNS = list("abcdefgh")
X_TRAIN = np.random.RandomState(0).normal(size=(N_SAMPLES, N_FEATURES))

FIT_METHODS = ("fit", "fit_predict", "fit_transform")
INFERENCE_METHODS = {
    "s3vdc": ("predict", "predict_proba", "transform", "score", "score_samples"),
    "loster": ("predict", "predict_proba", "transform", "score", "score_samples"),
    "loster_raw": ("predict", "predict_proba", "transform", "score", "score_samples"),
}
# Public methods that do not take samples X, each tested on its own below.
OTHER_METHODS = {"get_feature_names_out", "sample", "inverse_transform", "save"}
SKLEARN_PLUMBING = {"get_params", "set_params", "set_output", "get_metadata_routing"}


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: make(random_state=0).fit(X_TRAIN) for name, make in MAKERS.items()}


# ---- expected outcomes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    works: bool
    errors: tuple = ()
    match: str = ""

    def __repr__(self):
        parts = (["works"] if self.works else []) + (
            [f"{'/'.join(e.__name__ for e in self.errors)} matching {self.match!r}"] if self.errors else [])
        return " or ".join(parts)


WORKS = Expect(True)


def error(match, *errors):
    """A clear ValueError (the default) or the given types, whose message matches ``match``."""
    return Expect(False, errors or (ValueError,), match)


def works_or(match, *errors):
    return Expect(True, errors or (ValueError,), match)


@dataclass(frozen=True)
class Bug:
    """The correct outcome of a case that currently fails because of BUG-``number``."""

    number: int
    expect: Expect


DIMENSIONS = r"2D|2-D|dim|dimension"
SCALE = r"[Ss]cal|[Ll]arge|[Dd]iverg|[Oo]verflow|finite"


# ---- asserting outcomes ------------------------------------------------------------------------------

def _assert_same(before, after, path="vars(estimator)"):
    assert type(before) is type(after), f"{path}: {type(before).__name__} became {type(after).__name__}"
    if isinstance(before, torch.nn.Module):
        old, new = before.state_dict(), after.state_dict()
        assert old.keys() == new.keys(), f"{path}: state_dict keys changed"
        for key in old:
            assert old[key].dtype == new[key].dtype and torch.equal(old[key], new[key]), f"{path}[{key!r}] changed"
    elif isinstance(before, torch.Tensor):
        assert before.dtype == after.dtype and torch.equal(before, after), f"{path} changed"
    elif isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and before.shape == after.shape, f"{path}: dtype or shape changed"
        assert np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"), f"{path} changed"
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), f"{path}: keys {set(before) ^ set(after)} added or removed"
        for key in before:
            _assert_same(before[key], after[key], f"{path}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), f"{path}: length changed"
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            _assert_same(old, new, f"{path}[{index}]")
    elif isinstance(before, np.random.RandomState):
        _assert_same(before.get_state(legacy=False), after.get_state(legacy=False), path)
    elif isinstance(before, float) and math.isnan(before):
        assert math.isnan(after), f"{path} changed"
    else:
        assert before == after, f"{path}: {before!r} became {after!r}"


def _snapshot(estimator):
    return copy.deepcopy(vars(estimator))


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_labels(labels, n, n_clusters):
    assert isinstance(labels, np.ndarray) and labels.shape == (n,) and labels.dtype.kind in "iu", labels
    assert ((labels >= 0) & (labels < n_clusters)).all()


def _check_proba(proba, n, n_clusters):
    assert proba.shape == (n, n_clusters) and proba.dtype == np.float64
    assert np.isfinite(proba).all(), "non-finite predict_proba"
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def _float_dtype_of(X):
    return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64


def _check_embedding(embedding, X, latent_dim):
    assert embedding.shape == (_n_rows(X), latent_dim)
    assert embedding.dtype == _float_dtype_of(X), f"transform gave {embedding.dtype} for {getattr(X, 'dtype', X)}"
    assert np.isfinite(embedding).all(), "non-finite embedding"


def _check_model(estimator, X):
    """A successfully fitted estimator: finite weights, labels in range, finite probabilities and score."""
    check_is_fitted(estimator)
    n, n_clusters = _n_rows(X), estimator.n_clusters
    _check_labels(estimator.labels_, n, n_clusters)
    assert np.isfinite(estimator.cluster_centers_).all(), "non-finite cluster_centers_"
    for key, tensor in estimator.module_.state_dict().items():
        assert torch.isfinite(tensor).all(), f"non-finite weights in module_.{key}"
    _check_proba(estimator.predict_proba(X), n, n_clusters)
    assert np.isfinite(estimator.score(X)), "non-finite score"


def _check_output(estimator, method, output, X):
    n, n_clusters = _n_rows(X), estimator.n_clusters
    latent_dim = estimator.cluster_centers_.shape[1]
    if method == "fit":
        assert output is estimator
        _check_model(estimator, X)
    elif method == "fit_predict":
        _check_labels(output, n, n_clusters)
        _check_model(estimator, X)
    elif method == "fit_transform":
        _check_embedding(output, X, latent_dim)
        _check_model(estimator, X)
    elif method == "predict":
        _check_labels(output, n, n_clusters)
    elif method == "predict_proba":
        _check_proba(output, n, n_clusters)
    elif method == "transform":
        _check_embedding(output, X, latent_dim)
    elif method == "score":
        assert isinstance(output, Real) and np.isfinite(output), f"score gave {output!r}"
    elif method == "score_samples":
        assert output.shape == (n,) and output.dtype == np.float64
        assert np.isfinite(output).all(), "non-finite score_samples"
    else:  # pragma: no cover - a method added to the table without a check
        raise AssertionError(f"no output check for {method}")


def _call_and_check(estimator, method, args, expect, *, was_fitted, check=None):
    """Call ``estimator.method(*args)`` and assert ``expect``; a failed call must change nothing."""
    before = _snapshot(estimator)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = getattr(estimator, method)(*args)
    except Exception as exc:
        if not expect.errors:
            raise AssertionError(f"{method} should work but raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(exc, expect.errors) or not re.search(expect.match, str(exc)):
            raise AssertionError(f"{method} should give {expect!r}; got {type(exc).__name__}: {exc}") from exc
        _assert_same(before, vars(estimator))
        if not was_fitted:
            with pytest.raises(NotFittedError):
                check_is_fitted(estimator)
        return None
    assert expect.works, f"{method} should give {expect!r} but returned {type(output).__name__}"
    if method not in FIT_METHODS:
        _assert_same(before, vars(estimator))  # inference never changes the estimator
    if check is not None:
        check(estimator, method, output, args[0] if args else None)
    return output


# ---- the input table ---------------------------------------------------------------------------------

@dataclass
class Case:
    """One input. ``expect`` maps keys to outcomes, looked up most specific first:
    ``"<estimator>.<kind>.<method>"``, ``"<estimator>.<kind>"``, ``"<estimator>"``, ``"<kind>"``, ``"*"``,
    where kind is ``"fit"`` (fit-like methods on an unfitted estimator), ``"refit"`` (fit on a fitted
    one; falls back to ``"fit"``) or ``"infer"`` (methods of a fitted estimator), and where
    ``"loster_raw"`` falls back to ``"loster"``."""

    id: str
    build: object
    expect: dict
    params: dict = field(default_factory=dict)
    only: tuple = tuple(MAKERS)

    def outcome(self, estimator, kind, method):
        kinds = (kind, "fit") if kind == "refit" else (kind,)
        keys = [f"{name}.{k}.{method}" for name in FAMILY[estimator] for k in kinds]
        keys += [f"{name}.{k}" for name in FAMILY[estimator] for k in kinds]
        keys += [*FAMILY[estimator], *kinds, "*"]
        for key in keys:
            if key in self.expect:
                return self.expect[key]
        raise KeyError(f"case {self.id} has no outcome for {estimator}.{kind}.{method}")


def _with(values, rows=slice(None), columns=slice(None)):
    X = X_TRAIN.copy()
    X[rows, columns] = values
    return X


def _trailing_nan():
    X = X_TRAIN.copy()
    X[::3, -3:] = np.nan  # every third series is 5 timestamps long
    return X


def _channel_nan():
    X = np.stack([X_TRAIN, X_TRAIN], axis=2)
    X[0, -2:, 0] = np.nan  # channel 0 of series 0 ends early, channel 1 does not
    return X


def _object(values):
    X = X_TRAIN.astype(object)
    X[2, 3] = values
    return X


_TEMPDIR = tempfile.mkdtemp(prefix="skdeepcluster-bad-input-")
atexit.register(shutil.rmtree, _TEMPDIR, ignore_errors=True)


def _memmap():
    path = os.path.join(_TEMPDIR, "X.npy")
    np.save(path, X_TRAIN)
    return np.load(path, mmap_mode="r")


def _read_only():
    X = X_TRAIN.copy()
    X.flags.writeable = False
    return X


def _mixed_scales():
    return X_TRAIN * np.logspace(-5, 10, N_FEATURES)


NAN = error(r"NaN")
INF = error(r"[Ii]nf")
FEATURES_AT_PREDICT = error(r"features|expecting")

CASES = [
    # -- missing and infinite values
    # LoSTer reads NaN inside a series as a missing value (masked), S3VDC refuses NaN.
    Case("nan_inside", lambda e: _with(np.nan, 3, 4), {"*": NAN, "loster": WORKS}),
    Case("nan_first_timestamp", lambda e: _with(np.nan, 0, 0), {"*": NAN, "loster": WORKS}),
    Case("nan_everywhere", lambda e: np.full((N_SAMPLES, N_FEATURES), np.nan),
         {"*": NAN, "loster": error(r"all NaN")}),
    Case("nan_trailing_padding", lambda e: _trailing_nan(), {"*": NAN, "loster": WORKS}),
    Case("nan_trailing_leaving_1_timestamp", lambda e: _with(np.nan, 0, slice(1, None)),
         {"*": NAN, "loster": WORKS}),
    Case("nan_in_one_channel_only", lambda e: _channel_nan(),
         {"*": error(DIMENSIONS), "loster.fit": WORKS, "loster.infer": error(r"channel")}),
    Case("pos_inf", lambda e: _with(np.inf, 5, 2), {"*": INF}),
    Case("neg_inf", lambda e: _with(-np.inf, 5, 2), {"*": INF}),
    Case("inf_and_nan", lambda e: _with([np.inf, np.nan], 5, slice(2, 4)), {"*": error(r"NaN|[Ii]nf")}),
    Case("object_with_none", lambda e: _object(None), {"*": NAN, "loster": WORKS}),
    Case("dataframe_with_nan", lambda e: pd.DataFrame(_with(np.nan, 3, 4), columns=list("abcdefgh")),
         {"*": NAN, "loster": WORKS}),
    Case("dataframe_nullable_with_NA", lambda e: pd.DataFrame(X_TRAIN).astype("Float64").mask(
        pd.DataFrame(X_TRAIN) > 2.0), {"*": NAN, "loster": WORKS}),
    # -- sizes
    Case("empty_0_samples", lambda e: np.empty((0, N_FEATURES)), {"*": error(r"0 sample")}),
    Case("empty_0_features", lambda e: np.empty((N_SAMPLES, 0)), {"*": error(r"0 feature")}),
    Case("empty_0x0", lambda e: np.empty((0, 0)), {"*": error(r"0 sample|0 feature")}),
    Case("empty_list", lambda e: [], {"*": error(DIMENSIONS)}),
    Case("one_sample", lambda e: X_TRAIN[:1], {"fit": error(r"1 sample|n_samples=1"), "infer": WORKS}),
    Case("two_samples", lambda e: X_TRAIN[:2], {"*": WORKS}),
    Case("fewer_samples_than_clusters", lambda e: X_TRAIN[:3], {"fit": error(r"n_clusters"), "infer": WORKS},
         params={"n_clusters": 4}),
    # Fails after the data passed validation, with another width than the fitted model's: a failed refit
    # must not leave the new n_features_in_ (or feature_names_in_) on the old model.
    Case("fewer_samples_than_clusters_other_width", lambda e: X_TRAIN[:3, :5],
         {"fit": error(r"n_clusters"), "infer": FEATURES_AT_PREDICT}, params={"n_clusters": 4}),
    Case("dataframe_fewer_samples_than_clusters", lambda e: pd.DataFrame(X_TRAIN[:3, :5], columns=list("vwxyz")),
         {"fit": error(r"n_clusters"), "infer": FEATURES_AT_PREDICT}, params={"n_clusters": 4}),
    Case("one_feature", lambda e: X_TRAIN[:, :1],
         {"fit": WORKS, "loster.fit": error(r"minimum of 2|at least 2|timestamp"), "infer": FEATURES_AT_PREDICT}),
    Case("fewer_features", lambda e: X_TRAIN[:, :5], {"fit": WORKS, "infer": FEATURES_AT_PREDICT}),
    Case("more_features", lambda e: np.hstack([X_TRAIN, X_TRAIN]), {"fit": WORKS, "infer": FEATURES_AT_PREDICT}),
    # -- degenerate values
    Case("constant_zero", lambda e: np.zeros((N_SAMPLES, N_FEATURES)), {"*": WORKS}),
    Case("constant_1e5", lambda e: np.full((N_SAMPLES, N_FEATURES), 1e5), {"*": WORKS}),
    Case("constant_1e10", lambda e: np.full((N_SAMPLES, N_FEATURES), 1e10), {"*": works_or(SCALE)}),
    Case("constant_per_feature", lambda e: np.tile(np.arange(N_FEATURES, dtype=float), (N_SAMPLES, 1)),
         {"*": WORKS}),
    Case("constant_rows", lambda e: np.repeat(X_TRAIN[:, :1], N_FEATURES, axis=1), {"*": WORKS}),
    Case("identical_rows", lambda e: np.tile(X_TRAIN[0], (N_SAMPLES, 1)), {"*": WORKS}),
    # -- scales
    Case("scale_1e10", lambda e: X_TRAIN * 1e10, {"*": works_or(SCALE)}),
    Case("scale_1e20", lambda e: X_TRAIN * 1e20, {"*": works_or(SCALE)}),
    Case("scale_1e30", lambda e: X_TRAIN * 1e30, {"*": works_or(SCALE)}),
    Case("scale_1e300", lambda e: X_TRAIN * 1e300, {"*": works_or(SCALE)}),
    Case("scale_1e-10", lambda e: X_TRAIN * 1e-10, {"*": WORKS}),
    Case("scale_1e-300", lambda e: X_TRAIN * 1e-300, {"*": WORKS}),
    Case("subnormal", lambda e: X_TRAIN * 5e-324, {"*": WORKS}),
    Case("mixed_column_scales", lambda e: _mixed_scales(), {"*": works_or(SCALE)}),
    Case("float32_1e30", lambda e: (X_TRAIN * 1e30).astype(np.float32), {"*": works_or(SCALE)}),
    Case("float32_near_max", lambda e: np.where(X_TRAIN > 0, 3e38, -3e38).astype(np.float32),
         {"*": works_or(SCALE)}),
    # -- dtypes and containers that convert
    Case("float32", lambda e: X_TRAIN.astype(np.float32), {"*": WORKS}),
    Case("float16", lambda e: X_TRAIN.astype(np.float16), {"*": WORKS}),
    Case("longdouble", lambda e: X_TRAIN.astype(np.longdouble), {"*": WORKS}),
    Case("int64", lambda e: (X_TRAIN * 10).astype(np.int64), {"*": WORKS}),
    Case("int64_extremes", lambda e: np.where(X_TRAIN > 0, 2**62, -(2**62)), {"*": works_or(SCALE)}),
    Case("uint8", lambda e: (np.abs(X_TRAIN) * 50).astype(np.uint8), {"*": WORKS}),
    Case("bool", lambda e: X_TRAIN > 0, {"*": WORKS}),
    Case("object_numbers", lambda e: X_TRAIN.astype(object), {"*": WORKS}),
    Case("str_numbers", lambda e: X_TRAIN.astype(str), {"*": works_or(r"string")}),
    Case("list", lambda e: X_TRAIN.tolist(), {"*": WORKS}),
    Case("tuple_of_tuples", lambda e: tuple(map(tuple, X_TRAIN)), {"*": WORKS}),
    Case("dataframe_string_columns", lambda e: pd.DataFrame(X_TRAIN, columns=list("abcdefgh")), {"*": WORKS}),
    Case("dataframe_int_columns", lambda e: pd.DataFrame(X_TRAIN), {"*": WORKS}),
    Case("dataframe_nullable_float", lambda e: pd.DataFrame(X_TRAIN).astype("Float64"), {"*": WORKS}),
    Case("torch_tensor", lambda e: torch.from_numpy(X_TRAIN.copy()), {"*": WORKS}),
    Case("memmap", lambda e: _memmap(), {"*": WORKS}),
    Case("read_only", lambda e: _read_only(), {"*": WORKS}),
    Case("fortran_order", lambda e: np.asfortranarray(X_TRAIN), {"*": WORKS}),
    Case("strided_view", lambda e: np.repeat(X_TRAIN, 2, axis=1)[:, ::2], {"*": WORKS}),
    # -- dtypes and containers that do not
    Case("object_with_string", lambda e: _object("a"), {"*": error(r"string|float")}),
    Case("str_words", lambda e: np.full((N_SAMPLES, N_FEATURES), "abc"), {"*": error(r"string|float")}),
    Case("complex", lambda e: X_TRAIN + 1j, {"*": error(r"[Cc]omplex")}),
    Case("structured_dtype", lambda e: np.zeros(N_SAMPLES, dtype=[("a", float), ("b", float)]),
         {"*": error(r"dtype|[Cc]ast", TypeError, ValueError)}),
    Case("dataframe_string_column", lambda e: pd.DataFrame(X_TRAIN, columns=COLUMNS).assign(h="x"),
         {"*": error(r"string|float")}),
    Case("dataframe_categorical", lambda e: pd.DataFrame(X_TRAIN, columns=COLUMNS).assign(
        h=pd.Categorical(["u", "v"] * (N_SAMPLES // 2))), {"*": error(r"string|float|[Cc]ategor")}),
    Case("dataframe_mixed_column_names", lambda e: pd.DataFrame(X_TRAIN, columns=["a", 1, "b", 2, "c", 3, "d", 4]),
         {"*": error(r"string names|feature name", TypeError)}),
    Case("ragged_list", lambda e: [[1.0, 2.0], [3.0]] * 10, {"*": error(r"inhomogeneous|sequence|shape")}),
    Case("csr_matrix", lambda e: sp.csr_matrix(X_TRAIN), {"*": error(r"[Ss]parse.*dense", TypeError, ValueError)}),
    Case("csc_matrix", lambda e: sp.csc_matrix(X_TRAIN), {"*": error(r"[Ss]parse.*dense", TypeError, ValueError)}),
    Case("coo_array", lambda e: sp.coo_array(X_TRAIN), {"*": error(r"[Ss]parse.*dense", TypeError, ValueError)}),
    Case("sparse_all_zero", lambda e: sp.csr_matrix((N_SAMPLES, N_FEATURES)),
         {"*": error(r"[Ss]parse.*dense", TypeError, ValueError)}),
    # -- dimensionality and non-arrays
    Case("1d_array", lambda e: X_TRAIN[:, 0], {"*": error(DIMENSIONS)}),
    Case("pandas_series", lambda e: pd.Series(X_TRAIN[:, 0]), {"*": error(DIMENSIONS)}),
    Case("3d_array_1_channel", lambda e: X_TRAIN[:, :, np.newaxis], {"*": error(DIMENSIONS), "loster": WORKS}),
    Case("3d_array_2_channels", lambda e: np.stack([X_TRAIN, -X_TRAIN], axis=2),
         {"*": error(DIMENSIONS), "loster.fit": WORKS, "loster.infer": error(r"channel")}),
    Case("4d_array", lambda e: X_TRAIN[:, :, np.newaxis, np.newaxis], {"*": error(DIMENSIONS + r"|4-D")}),
    Case("scalar", lambda e: 3.0, {"*": error(DIMENSIONS + r"|scalar")}),
    Case("none", lambda e: None, {"*": error(DIMENSIONS + r"|scalar|None", TypeError, ValueError)}),
    Case("string", lambda e: "abc", {"*": error(DIMENSIONS + r"|scalar|string|float", TypeError, ValueError)}),
    Case("dict", lambda e: {"a": [1.0, 2.0]}, {"*": error(r"dict|" + DIMENSIONS, TypeError, ValueError)}),
    Case("set", lambda e: {1.0, 2.0}, {"*": error(r"set|" + DIMENSIONS, TypeError, ValueError)}),
    # -- data that does not suit a parameter
    Case("bernoulli_outside_0_1", lambda e: X_TRAIN, {"fit": error(r"reconstruction.*\[0, 1\]"), "infer": WORKS},
         params={"reconstruction": "bernoulli"}, only=("s3vdc",)),
    Case("bernoulli_outside_0_1_other_width", lambda e: X_TRAIN[:, :5],
         {"fit": error(r"reconstruction.*\[0, 1\]"), "infer": FEATURES_AT_PREDICT},
         params={"reconstruction": "bernoulli"}, only=("s3vdc",)),
    Case("bernoulli_in_0_1", lambda e: (X_TRAIN > 0).astype(float), {"*": WORKS},
         params={"reconstruction": "bernoulli"}, only=("s3vdc",)),
    Case("mask_mode_trailing_padding", lambda e: _trailing_nan(), {"*": WORKS},
         params={"variable_length": "mask"}, only=("loster", "loster_raw")),
]


def _table(kind, methods_of):
    """pytest params (estimator, methods, case, expect): the methods of one case that share an outcome
    are one test (``<estimator>-<kind>-<case>``), those with another outcome (a bug) get their own."""
    params = []
    for case in CASES:
        for estimator in case.only:
            methods = methods_of(estimator)
            groups = {}
            for method in methods:
                groups.setdefault(case.outcome(estimator, kind, method), []).append(method)
            for expect, group in groups.items():
                if kind == "refit" and expect == WORKS:
                    continue  # what a refit adds is keeping the old model when the new fit fails
                marks = ()
                if isinstance(expect, Bug):
                    marks, expect = bug(expect.number), expect.expect
                label = kind if len(group) == len(methods) else "+".join(group)
                params.append(pytest.param(estimator, tuple(group), case, expect, marks=marks,
                                           id=f"{estimator}-{label}-{case.id}"))
    return params


@pytest.mark.parametrize("estimator, methods, case, expect", _table("fit", lambda e: FIT_METHODS))
def test_fit_on_unfitted(estimator, methods, case, expect):
    for method in methods:
        model = MAKERS[estimator](**case.params)
        _call_and_check(model, method, (case.build(estimator),), expect, was_fitted=False, check=_check_output)


@pytest.mark.parametrize("estimator, methods, case, expect", _table("refit", lambda e: ("fit",)))
def test_refit_of_fitted(fitted, estimator, methods, case, expect):
    model = copy.deepcopy(fitted[estimator]).set_params(**case.params)
    _call_and_check(model, "fit", (case.build(estimator),), expect, was_fitted=True, check=_check_output)


@pytest.mark.parametrize("estimator, methods, case, expect", _table("infer", INFERENCE_METHODS.get))
def test_inference(fitted, estimator, methods, case, expect):
    for method in methods:
        _call_and_check(fitted[estimator], method, (case.build(estimator),), expect, was_fitted=True,
                        check=_check_output)


def test_every_public_method_is_in_the_table():
    for name, cls in CLASSES.items():
        public = {attr for attr in dir(cls) if not attr.startswith("_") and callable(getattr(cls, attr))}
        public -= SKLEARN_PLUMBING | {attr for attr in public if attr.startswith("set_") and attr.endswith("_request")}
        covered = set(FIT_METHODS) | set(INFERENCE_METHODS[name]) | OTHER_METHODS
        assert public <= covered, f"{cls.__name__} methods without bad-input cases: {sorted(public - covered)}"


# ---- unfitted estimators -----------------------------------------------------------------------------

def _unfitted_calls(name):
    calls = [(method, (X_TRAIN,)) for method in INFERENCE_METHODS[name]]
    calls.append(("get_feature_names_out", ()))
    if name == "s3vdc":
        calls.append(("sample", (3,)))
    else:
        calls.append(("inverse_transform", (np.zeros((2, 8)),)))
    if hasattr(CLASSES[name], "save"):
        calls.append(("save", (os.path.join(_TEMPDIR, f"unfitted-{name}.model"),)))
    return [pytest.param(name, method, args, id=f"{name}-{method}") for method, args in calls]


@pytest.mark.parametrize("estimator, method, args", [p for name in CLASSES for p in _unfitted_calls(name)])
def test_unfitted_estimator_raises_not_fitted(estimator, method, args):
    model = MAKERS[estimator]()
    _call_and_check(model, method, args, error(r"not fitted", NotFittedError), was_fitted=False)


# ---- feature names of DataFrames ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_on_dataframe():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: MAKERS[name](random_state=0).fit(pd.DataFrame(X_TRAIN, columns=COLUMNS))
                for name in CLASSES}


@pytest.mark.parametrize("estimator", list(CLASSES))
def test_dataframe_feature_names_are_checked(fitted_on_dataframe, estimator):
    model = fitted_on_dataframe[estimator]
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)
    before = _snapshot(model)
    for method in INFERENCE_METHODS[estimator]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # the same names: no warning
            _check_output(model, method, getattr(model, method)(pd.DataFrame(X_TRAIN, columns=COLUMNS)), X_TRAIN)
        for columns in (list("abcdefgz"), COLUMNS[::-1]):  # renamed, reordered
            with pytest.raises(ValueError, match="feature names"):
                getattr(model, method)(pd.DataFrame(X_TRAIN, columns=columns))
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            output = getattr(model, method)(X_TRAIN)
        _check_output(model, method, output, X_TRAIN)
    _assert_same(before, vars(model))
    assert list(model.get_feature_names_out(COLUMNS)) == list(model.get_feature_names_out())
    with pytest.raises(ValueError, match="input_features"):
        model.get_feature_names_out(list("abcdefgz"))


FAILING_REFITS = {
    # A whole row of NaN: S3VDC refuses any NaN, LoSTer an all-NaN series (it masks other NaN).
    "numpy_with_nan": lambda: _with(np.nan, 3, slice(None)),
    "other_names_with_nan": lambda: pd.DataFrame(_with(np.nan, 3, slice(None)), columns=list("stuvwxyz")),
    "other_names_string_column": lambda: pd.DataFrame(X_TRAIN, columns=list("stuvwxyz")).assign(z="x"),
    "one_sample_other_width": lambda: pd.DataFrame(X_TRAIN[:1, :3], columns=list("xyz")),
    "mixed_column_names": lambda: pd.DataFrame(X_TRAIN, columns=["a", 1, "b", 2, "c", 3, "d", 4]),
}


@pytest.mark.parametrize("build", FAILING_REFITS.values(), ids=FAILING_REFITS.keys())
@pytest.mark.parametrize("estimator", list(CLASSES))
def test_failed_refit_keeps_the_dataframe_model(fitted_on_dataframe, estimator, build):
    model = copy.deepcopy(fitted_on_dataframe[estimator])
    _call_and_check(model, "fit", (build(),), error(r".", ValueError, TypeError), was_fitted=True)
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)
    model.predict(pd.DataFrame(X_TRAIN, columns=COLUMNS))


@pytest.mark.parametrize("estimator", list(CLASSES))
def test_dataframe_at_predict_after_numpy_fit_warns(fitted, estimator):
    model = fitted[estimator]
    with pytest.warns(UserWarning, match="has feature names"):
        _check_output(model, "predict", model.predict(pd.DataFrame(X_TRAIN, columns=COLUMNS)), X_TRAIN)
    prefix = type(model).__name__.lower()
    names = model.get_feature_names_out()
    assert list(names) == [f"{prefix}{i}" for i in range(model.cluster_centers_.shape[1])]


# ---- LoSTer: channels ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loster_two_channels():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_loster(random_state=0).fit(np.stack([X_TRAIN, -X_TRAIN], axis=2))


CHANNEL_CASES = [
    ("same_layout", lambda: np.stack([X_TRAIN, -X_TRAIN], axis=2), WORKS),
    ("2d_input", lambda: X_TRAIN, error(r"channel")),
    ("3_channels", lambda: np.stack([X_TRAIN, -X_TRAIN, X_TRAIN], axis=2), error(r"channel")),
    ("1_channel_3d", lambda: X_TRAIN[:, :, np.newaxis], error(r"channel")),
    ("fewer_timestamps", lambda: np.stack([X_TRAIN, -X_TRAIN], axis=2)[:, :5], FEATURES_AT_PREDICT),
]


@pytest.mark.parametrize("method", INFERENCE_METHODS["loster"])
@pytest.mark.parametrize("build, expect", [pytest.param(b, e, id=i) for i, b, e in CHANNEL_CASES])
def test_loster_channels_must_match(loster_two_channels, method, build, expect):
    _call_and_check(loster_two_channels, method, (build(),), expect, was_fitted=True, check=_check_output)


def test_loster_inverse_transform_keeps_channels(loster_two_channels):
    decoded = loster_two_channels.inverse_transform(loster_two_channels.cluster_centers_)
    assert decoded.shape == (2, N_FEATURES, 2) and np.isfinite(decoded).all()


# ---- S3VDC.sample ------------------------------------------------------------------------------------------

N_SAMPLES_ERROR = error(r"n_samples", ValueError, TypeError)
SAMPLE_CASES = [
    ("1", 1, WORKS), ("5", 5, WORKS), ("np_int64", np.int64(3), WORKS), ("0", 0, N_SAMPLES_ERROR),
    ("-1", -1, N_SAMPLES_ERROR), ("1.5", 1.5, N_SAMPLES_ERROR), ("2.0", 2.0, N_SAMPLES_ERROR),
    ("str_3", "3", N_SAMPLES_ERROR), ("none", None, N_SAMPLES_ERROR), ("nan", float("nan"), N_SAMPLES_ERROR),
    ("array", np.array([3]), N_SAMPLES_ERROR),
]


def _check_sample(estimator, method, output, n_samples):
    X, y = output
    assert X.shape == (int(n_samples), N_FEATURES) and X.dtype == np.float64 and np.isfinite(X).all()
    _check_labels(y, int(n_samples), estimator.n_clusters)


@pytest.mark.parametrize("n_samples, expect", [pytest.param(v, e, id=i) for i, v, e in SAMPLE_CASES])
def test_s3vdc_sample(fitted, n_samples, expect):
    _call_and_check(fitted["s3vdc"], "sample", (n_samples,), expect, was_fitted=True, check=_check_sample)


# ---- LoSTer.inverse_transform ------------------------------------------------------------------------------

LATENT = make_loster().latent_dim


def _check_inverse(estimator, method, output, Z):
    assert output.shape == (_n_rows(Z), N_FEATURES)
    assert output.dtype == _float_dtype_of(Z) and np.isfinite(output).all(), "non-finite inverse_transform"


INVERSE_CASES = [
    ("embedding", lambda m: m.transform(X_TRAIN), WORKS),
    ("centroids", lambda m: m.cluster_centers_, WORKS),
    ("one_row", lambda m: m.cluster_centers_[:1], WORKS),
    ("float32", lambda m: m.cluster_centers_.astype(np.float32), WORKS),
    ("list", lambda m: m.cluster_centers_.tolist(), WORKS),
    ("dataframe", lambda m: pd.DataFrame(m.cluster_centers_), WORKS),
    ("zeros", lambda m: np.zeros((3, LATENT)), WORKS),
    ("large_1e10", lambda m: np.full((3, LATENT), 1e10), works_or(SCALE)),
    ("huge_1e300", lambda m: np.full((3, LATENT), 1e300), works_or(SCALE)),
    ("float32_near_max", lambda m: np.full((1, LATENT), 3.4e38, dtype=np.float32), works_or(SCALE)),
    ("wrong_width", lambda m: np.zeros((3, LATENT + 1)), error(r"features|latent_dim")),
    ("data_instead_of_embedding", lambda m: X_TRAIN[:, :5], error(r"features|latent_dim")),
    ("nan", lambda m: np.full((3, LATENT), np.nan), NAN),
    ("inf", lambda m: np.full((3, LATENT), np.inf), INF),
    ("empty", lambda m: np.empty((0, LATENT)), error(r"0 sample")),
    ("1d", lambda m: np.zeros(LATENT), error(DIMENSIONS)),
    ("3d", lambda m: np.zeros((3, LATENT, 1)), error(DIMENSIONS)),
    ("sparse", lambda m: sp.csr_matrix(np.zeros((3, LATENT))), error(r"[Ss]parse.*dense", TypeError, ValueError)),
    ("complex", lambda m: np.zeros((3, LATENT)) + 1j, error(r"[Cc]omplex")),
    ("strings", lambda m: np.full((3, LATENT), "a"), error(r"string|float")),
    ("none", lambda m: None, error(DIMENSIONS + r"|scalar|None", TypeError, ValueError)),
]


def _inverse_param(case_id, build, expect):
    marks = ()
    if isinstance(expect, Bug):
        marks, expect = bug(expect.number), expect.expect
    return pytest.param(build, expect, id=case_id, marks=marks)


@pytest.mark.parametrize("build, expect", [_inverse_param(*case) for case in INVERSE_CASES])
def test_loster_inverse_transform(fitted, build, expect):
    model = fitted["loster"]
    _call_and_check(model, "inverse_transform", (build(model),), expect, was_fitted=True, check=_check_inverse)


# ---- save / load (only once they exist) ----------------------------------------------------------------

needs_persistence = pytest.mark.skipif(not (hasattr(skdeepcluster, "load") and hasattr(S3VDCClustering, "save")),
                                       reason="save/load do not exist yet")
BAD_SAVE_PATHS = {
    "none": (lambda: None, error(r"path|str|None", TypeError, ValueError)),
    "int": (lambda: 3, error(r"path|str|int", TypeError, ValueError)),
}


@needs_persistence
@pytest.mark.parametrize("path, expect", BAD_SAVE_PATHS.values(), ids=BAD_SAVE_PATHS.keys())
@pytest.mark.parametrize("estimator", list(CLASSES))
def test_save_rejects_bad_paths(fitted, estimator, path, expect):
    _call_and_check(fitted[estimator], "save", (path(),), expect, was_fitted=True)


@needs_persistence
@pytest.mark.parametrize("estimator", list(CLASSES))
def test_save_into_a_missing_folder_is_an_os_error_and_leaves_nothing(fitted, estimator):
    folder = tempfile.mkdtemp(dir=_TEMPDIR)
    with pytest.raises(OSError):
        fitted[estimator].save(os.path.join(folder, "missing", "model.skdc"))
    assert os.listdir(folder) == []


@needs_persistence
def test_save_with_a_random_state_instance_names_random_state():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_s3vdc(random_state=np.random.RandomState(0)).fit(X_TRAIN)
    _call_and_check(model, "save", (os.path.join(_TEMPDIR, "rs.skdc"),), error(r"random_state"), was_fitted=True)


def _truncated_model_file(path):
    model = make_loster().fit(X_TRAIN)
    model.save(path)
    with open(path, "rb") as file:
        content = file.read()
    return content[: len(content) // 2]


def _zip_without_members(path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    return buffer.getvalue()


BAD_MODEL_FILES = {
    "empty": lambda path: b"",
    "text": lambda path: b"not a model",
    "pickled_int": lambda path: b"\x80\x04K\x01.",
    "zip_without_members": _zip_without_members,
    "truncated_model": _truncated_model_file,
}


@needs_persistence
@pytest.mark.parametrize("content", BAD_MODEL_FILES.values(), ids=BAD_MODEL_FILES.keys())
def test_load_rejects_files_that_are_not_models(content):
    path = os.path.join(_TEMPDIR, f"bad-{id(content)}.skdc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = content(path)
    with open(path, "wb") as file:
        file.write(data)
    with pytest.raises(ValueError, match=r"model file|corrupted|refused"):
        skdeepcluster.load(path)


@needs_persistence
@pytest.mark.parametrize("path", [None, 3], ids=["none", "int"])
def test_load_rejects_paths_that_are_not_paths(path):
    with pytest.raises(TypeError):
        skdeepcluster.load(path)


# ---- invalid constructor parameters -------------------------------------------------------------------

PARAM_ERRORS = (ValueError, TypeError)  # InvalidParameterError subclasses both


def _named(param):
    """A message naming ``param`` (``learning_rate`` or ``learning rate``)."""
    return re.escape(param).replace("_", "[_ ]")


def _generated_invalid_values(param, constraints):
    """Values that violate ``_parameter_constraints[param]``: wrong types, out of range, None, NaN."""
    values = {}
    for constraint in constraints:
        if isinstance(constraint, Interval):
            values["str"] = "1"
            if constraint.type is Integral:
                values["float"] = 1.5
                values["integral_float"] = 2.0
                values["bool"] = True
            else:
                values["nan"] = float("nan")
                values["complex"] = 1 + 1j
            if constraint.left is not None:
                values["below"] = constraint.left - 1
                if constraint.closed in ("right", "neither"):
                    values["left_bound"] = constraint.left
            if constraint.right is not None:
                values["above"] = constraint.right + 1
                if constraint.closed in ("left", "neither"):
                    values["right_bound"] = constraint.right
            elif constraint.type is Real:
                values["inf"] = float("inf")
        elif isinstance(constraint, StrOptions):
            values["unknown_option"] = "not-an-option"
            if not any(isinstance(other, Interval) for other in constraints):  # "auto" or a number: 1 is valid
                values["int"] = 1
        elif constraint == "boolean":
            values["str"] = "yes"
            values["int"] = 1
        elif constraint == "random_state":
            values.update(negative=-1, str="seed", float=1.5, above=2**32)
        elif constraint == "verbose":
            values.update(negative=-1, str="loud", float=1.5)
        elif constraint is tuple:
            values.update(list=[4], int=4, str="4")
        elif constraint is str:
            values.update(int=0, bytes=b"cpu")
    if None not in constraints and "random_state" not in constraints:
        values["none"] = None
    return values


def _conv(**params):
    return {"encoder": "conv", **params}


# Hand-written invalid values: (estimator, id, params, regex the message must match).
EXTRA_INVALID = [
    *[("s3vdc", f"hidden_dims={i}", {"hidden_dims": v}, "hidden_dims")
      for i, v in [("(0,)", (0,)), ("(-1,)", (-1,)), ("(1.5,)", (1.5,)), ("('a',)", ("a",)), ("(None,)", (None,)),
                   ("(16,0)", (16, 0)), ("(True,)", (True,)), ("((4,),)", ((4,),))]],
    ("s3vdc", "conv-input_shape=None", _conv(), "input_shape"),
    ("s3vdc", "conv-input_shape=(1,3,3)-mismatch", _conv(input_shape=(1, 3, 3)), "input_shape"),
    ("s3vdc", "conv-input_shape=(1,8)", _conv(input_shape=(1, 8)), "input_shape"),
    ("s3vdc", "conv-input_shape=(1,2,2,2)", _conv(input_shape=(1, 2, 2, 2)), "input_shape"),
    ("s3vdc", "conv-input_shape=(0,2,4)", _conv(input_shape=(0, 2, 4)), "input_shape"),
    ("s3vdc", "conv-input_shape=(-1,2,4)", _conv(input_shape=(-1, 2, 4)), "input_shape"),
    ("s3vdc", "conv-input_shape=(1.0,2,4)", _conv(input_shape=(1.0, 2, 4)), "input_shape"),
    ("s3vdc", "conv-input_shape=('a',2,4)", _conv(input_shape=("a", 2, 4)), "input_shape"),
    ("s3vdc", "conv-input_shape=list", _conv(input_shape=[1, 2, 4]), "input_shape"),
    # "cuda" and "cuda:0" only where CUDA is missing (as on the CI machines); "cuda:7" fails on 1-7 GPUs too.
    *[(name, f"device={device!r}", {"device": device}, "device")
      for name in CLASSES for device in ("cuda", "cuda:0", "cuda:7", "tpu", "", "mps", "CPU", "cpu ", "cuda:x")
      if not (device in ("cuda", "cuda:0") and torch.cuda.is_available())],
    *[(name, "n_clusters>n_samples", {"n_clusters": N_SAMPLES + 1}, "n_clusters") for name in CLASSES],
    *[(name, f"n_jobs={value!r}", {"n_jobs": value}, "n_jobs") for name in CLASSES
      for value in (0, 1.5, "2", True)],
]
# Where a bug makes the generated case fail: (estimator, id) -> bug number. None open.
INVALID_BUGS = {}


def _invalid_cases():
    cases = []
    for name, cls in CLASSES.items():
        for param in sorted(cls().get_params()):
            constraints = cls._parameter_constraints.get(param, [])
            for value_id, value in _generated_invalid_values(param, constraints).items():
                cases.append((name, f"{param}={value_id}", {param: value}, _named(param)))
    return cases + EXTRA_INVALID


def _invalid_params():
    params = []
    for name, case_id, values, match in _invalid_cases():
        marks = bug(INVALID_BUGS[name, case_id]) if (name, case_id) in INVALID_BUGS else ()
        params.append(pytest.param(name, values, match, marks=marks, id=f"{name}-{case_id}"))
    return params


@pytest.mark.parametrize("estimator, params, match", _invalid_params())
def test_invalid_parameter(fitted, estimator, params, match):
    """At fit time, on an unfitted estimator (stays unfitted) and on a fitted one (keeps its model)."""
    for model, was_fitted in ((MAKERS[estimator](), False), (copy.deepcopy(fitted[estimator]), True)):
        model.set_params(**params)
        _call_and_check(model, "fit", (X_TRAIN,), error(match, *PARAM_ERRORS), was_fitted=was_fitted)


def test_every_parameter_has_invalid_cases():
    for name, cls in CLASSES.items():
        covered = {param for case in _invalid_cases() if case[0] == name for param in case[2]}
        assert covered >= set(cls().get_params()), f"{cls.__name__}: {set(cls().get_params()) - covered}"


def test_invalid_parameter_error_is_a_value_error():
    with pytest.raises(ValueError, match="'n_clusters' parameter"):
        make_s3vdc(n_clusters=0).fit(X_TRAIN)
    assert issubclass(InvalidParameterError, ValueError)


# Extreme but valid values: the fit works (finite model, probabilities and score) or raises a ValueError
# naming the parameter, never a torch/KMeans error or a NaN model. (estimator, param, value[, bug]).
EXTREME_VALUES = [
    ("s3vdc", "learning_rate", 1e10), ("s3vdc", "learning_rate", 1e38), ("s3vdc", "learning_rate", 1e300),
    ("s3vdc", "learning_rate", 1e-300), ("s3vdc", "min_learning_rate", 1e300), ("s3vdc", "min_learning_rate", 1e-300),
    ("s3vdc", "gamma", 1e300), ("s3vdc", "minmax_scale", 1e300), ("s3vdc", "minmax_scale", 1e-300),
    ("s3vdc", "anneal_power", 1e300), ("s3vdc", "anneal_power", 1e-300), ("s3vdc", "noise_std", 1e300),
    ("s3vdc", "noise_std", 1e10), ("s3vdc", "warmup_epochs", 1e-300), ("s3vdc", "gmm_init_samples", 10**9),
    ("s3vdc", "batch_size", 10**9), ("s3vdc", "batch_size", 1), ("s3vdc", "latent_dim", 1), ("s3vdc", "n_clusters", 1),
    ("s3vdc", "n_clusters", N_SAMPLES), ("s3vdc", "n_periods", 0), ("s3vdc", "hidden_dims", ()),
    ("s3vdc", "n_score_samples", 1), ("s3vdc", "gmm_init_samples", 1),
    ("loster", "learning_rate", 1e10), ("loster", "learning_rate", 1e39), ("loster", "learning_rate", 1e300),
    ("loster", "learning_rate", 1e-300), ("loster", "pretrain_learning_rate", 1e6),
    ("loster", "pretrain_learning_rate", 1e300), ("loster", "pretrain_learning_rate", 1e-300),
    ("loster", "bandwidth", 1e-300), ("loster", "bandwidth", 1e300), ("loster", "bandwidth", 1e-10),
    ("loster", "initial_temperature", 1e300), ("loster", "initial_temperature", 1e-300),
    ("loster", "min_temperature", 1e300), ("loster", "min_temperature", 1e-300),
    ("loster", "instance_temperature", 1e300), ("loster", "instance_temperature", 1e-300),
    ("loster", "cluster_temperature", 1e300), ("loster", "cluster_temperature", 1e-300),
    ("loster", "kmeans_weight", 1e300), ("loster", "contrastive_weight", 1e300), ("loster", "warp_sigma", 1e300),
    ("loster", "max_segments", 1000), ("loster", "warp_knots", 1000), ("loster", "warp_knots", 0),
    ("loster", "dropout", 0.999), ("loster", "tol", 1.0), ("loster", "learning_rate_decay", 1e-300),
    ("loster", "temperature_decay", 1e-300), ("loster", "batch_size", 1), ("loster", "batch_size", 10**9),
    ("loster", "latent_dim", 1), ("loster", "hidden_dim", 1), ("loster", "n_clusters", 1),
    ("loster", "n_clusters", N_SAMPLES), ("loster", "pretrain_epochs", 0), ("loster", "max_epochs", 0),
    ("loster", "n_neighbors", 1), ("loster", "n_neighbors", 10**9), ("loster", "init", "kmeans"),
    ("loster", "joint_assignments", "gumbel"), ("loster", "joint_optimizer", "sgd"), ("loster", "normalize", "auto"),
]
COMBINED_EXTREMES_LOSTER = [
    *[("loster", {"joint_assignments": assignments, "bandwidth": value}, None)
      for assignments in ("partition", "gumbel") for value in (1e-300, 1e300, "auto")],
    ("loster", {"n_clusters": N_SAMPLES, "init": "spectral", "n_neighbors": 1}, None),
    ("loster", {"joint_optimizer": "adam", "learning_rate": 1e300}, None),
]
COMBINED_EXTREMES = [
    ("s3vdc", {"n_clusters": 1, "gmm_init_samples": 1}, None),
    ("s3vdc", {"n_clusters": 2, "gmm_init_samples": 1}, None),
    ("s3vdc", {"warmup_epochs": 0, "anneal_epochs": 0, "static_epochs": 0}, None),
    ("s3vdc", {"encoder": "conv", "input_shape": (1, 2, 4)}, None),
    ("s3vdc", {"encoder": "conv", "input_shape": (8, 1, 1)}, None),
    *COMBINED_EXTREMES_LOSTER,
]


def _extreme_params():
    params = []
    for entry in EXTREME_VALUES:
        name, param, value, number = (*entry, None)[:4]
        params.append(pytest.param(name, {param: value}, marks=bug(number) if number else (),
                                   id=f"{name}-{param}={value!r}"))
    for name, values, number in COMBINED_EXTREMES:
        case_id = ",".join(f"{k}={v!r}" for k, v in values.items())
        params.append(pytest.param(name, values, marks=bug(number) if number else (), id=f"{name}-{case_id}"))
    return params


@pytest.mark.parametrize("estimator, params", _extreme_params())
def test_extreme_valid_parameter(estimator, params):
    model = MAKERS[estimator](**params)
    match = "|".join(_named(param) for param in params) + "|" + SCALE
    _call_and_check(model, "fit", (X_TRAIN,), works_or(match), was_fitted=False, check=_check_output)
