"""Hypothesis fuzzing of inputs and parameters: either success with finite outputs of the right shape,
or one of the clear errors (ValueError, including sklearn's InvalidParameterError and NotFittedError,
or TypeError). Any other exception, or a NaN output, is a failure.

Inference (predict, predict_proba, transform, score, ...) is fuzzed heavily on estimators fitted once
per module; fit is fuzzed with few examples and even tinier models than tests/_configs.py. Where a
strategy is narrower than "anything", a comment names the deterministic case of
tests/test_bad_input.py that covers the excluded inputs. The number of examples run is printed at the
end of the module.
"""

import warnings
from collections import Counter
from numbers import Integral, Real

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions

from tests._configs import LOSTER, S3VDC

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

CLEAR_ERRORS = (ValueError, TypeError)  # InvalidParameterError and NotFittedError are ValueErrors
EXAMPLES = Counter()
OUTCOMES = Counter()  # calls that worked, and the clear errors raised, by type


def fuzz(max_examples):
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def report_examples(request):
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ntest_fuzz: {sum(EXAMPLES.values())} hypothesis examples run "
                                f"({dict(EXAMPLES)}); call outcomes: {dict(sorted(OUTCOMES.items()))}")


# ---- estimators ------------------------------------------------------------------------------------------

# The registry's even tinier configurations, for tests of input handling (as in tests/test_bad_input.py).
make_s3vdc = S3VDC.make_input_only
make_loster = LOSTER.make_input_only


N_FEATURES = 8
X_TRAIN = np.random.RandomState(0).normal(size=(30, N_FEATURES))
INFERENCE_METHODS = {
    "s3vdc": ("predict", "predict_proba", "transform", "score", "score_samples"),
    "loster": ("predict", "predict_proba", "transform", "score"),
    "loster_raw": ("predict", "predict_proba", "transform", "score"),
}


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"s3vdc": make_s3vdc().fit(X_TRAIN), "loster": make_loster().fit(X_TRAIN),
                "loster_raw": make_loster(normalize=False).fit(X_TRAIN),
                "loster_3d": make_loster().fit(np.stack([X_TRAIN, -X_TRAIN], axis=2))}


# ---- checking one call ---------------------------------------------------------------------------------------

def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_output(model, method, output, X):
    """The output of a successful call: right shape, finite, labels in range, probabilities summing to 1."""
    n, n_clusters = _n_rows(X), model.n_clusters
    latent_dim = model.cluster_centers_.shape[1]
    if method in ("predict", "fit_predict"):
        assert output.shape == (n,) and output.dtype.kind in "iu"
        assert ((output >= 0) & (output < n_clusters)).all()
    elif method == "predict_proba":
        assert output.shape == (n, n_clusters) and np.isfinite(output).all(), output
        assert (output >= 0).all()
        np.testing.assert_allclose(output.sum(axis=1), 1.0, rtol=1e-6)
    elif method in ("transform", "fit_transform"):
        assert output.shape == (n, latent_dim) and np.isfinite(output).all(), output
        assert output.dtype == (np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64)
    elif method == "score":
        assert isinstance(output, Real) and np.isfinite(output), output
    elif method == "score_samples":
        assert output.shape == (n,) and np.isfinite(output).all(), output
    elif method == "fit":
        assert output is model
    else:  # pragma: no cover
        raise AssertionError(method)
    if method.startswith("fit"):
        _check_fitted_model(model, X)


def _check_fitted_model(model, X):
    n = _n_rows(X)
    assert model.labels_.shape == (n,) and ((model.labels_ >= 0) & (model.labels_ < model.n_clusters)).all()
    assert np.isfinite(model.cluster_centers_).all()
    for key, tensor in model.module_.state_dict().items():
        assert torch.isfinite(tensor).all(), f"non-finite weights in module_.{key}"
    _check_output(model, "predict_proba", model.predict_proba(X), X)
    _check_output(model, "score", model.score(X), X)


def _call(model, method, *args):
    """The output, or None after a clear error; any other exception propagates and fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = getattr(model, method)(*args)
    except CLEAR_ERRORS as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        OUTCOMES[f"{method}:{type(exc).__name__}"] += 1
        return None
    OUTCOMES[f"{method}:ok"] += 1
    return output


# ---- strategies ----------------------------------------------------------------------------------------------

FLOAT_DTYPES = [np.float64, np.float32, np.float16]
OTHER_DTYPES = [np.int64, np.int8, np.uint8, np.bool_, np.complex128]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-300, 1e300, -1e300, 1e30, -1e30]


def _elements(dtype, max_magnitude):
    """Anything the dtype holds (NaN, inf, subnormals), magnitudes capped at ``max_magnitude``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        limit = min(max_magnitude, float(np.finfo(dtype).max))
        specials = [v for v in SPECIALS if not np.isfinite(v) or (abs(v) <= limit and dtype.type(v) == v)]
        return st.one_of(st.floats(-limit, limit, width=8 * dtype.itemsize), st.sampled_from(specials))
    if dtype.kind == "c":
        return st.complex_numbers(max_magnitude=10)
    return hnp.from_dtype(dtype)


def _ordinary(dtype):
    """Finite values of moderate size."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return st.floats(-1e3, 1e3, width=8 * dtype.itemsize)
    return hnp.from_dtype(dtype)


@st.composite
def arrays(draw, n_features=N_FEATURES, min_rows=0, max_rows=40, max_magnitude=np.inf, ndims=(1, 2, 2, 2, 3)):
    """Arrays of any dtype and shape: a third valid (moderate values, 2-D, ``n_features`` columns), a third
    valid in shape with some extreme values (NaN, inf, huge, subnormal) and a third anything."""
    mode = draw(st.sampled_from(["valid", "extreme_values", "anything"]))
    if mode == "anything":
        dtype = draw(st.sampled_from(FLOAT_DTYPES * 3 + OTHER_DTYPES))
        ndim = draw(st.sampled_from(ndims))
        rows = draw(st.integers(min_rows, max_rows))
        columns = draw(st.one_of(st.just(n_features or 4), st.integers(0, 12)))
        shape = {1: (rows,), 2: (rows, columns), 3: (rows, columns, draw(st.integers(0, 3)))}[ndim]
        return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, max_magnitude)))
    dtype = draw(st.sampled_from(FLOAT_DTYPES * 3 + OTHER_DTYPES[:-1]))  # no complex
    shape = (draw(st.integers(max(min_rows, 2), max_rows)), n_features or draw(st.integers(1, 12)))
    if mode == "valid":
        return draw(hnp.arrays(dtype, shape, elements=_ordinary(dtype)))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, max_magnitude), fill=_ordinary(dtype)))


@st.composite
def padded_series(draw, n_timestamps=N_FEATURES, n_channels=None, max_magnitude=1e6):
    """Finite series padded with trailing NaN to variable lengths (valid LoSTer input) or with some NaN inside."""
    rows = draw(st.integers(1, 30))
    shape = (rows, n_timestamps) if n_channels is None else (rows, n_timestamps, n_channels)
    X = draw(hnp.arrays(np.float64, shape, elements=st.floats(-max_magnitude, max_magnitude)))
    lengths = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, n_timestamps)))
    for row, length in enumerate(lengths):
        X[row, length:] = np.nan
    if draw(st.booleans()):
        X[draw(st.integers(0, rows - 1)), draw(st.integers(0, n_timestamps - 1))] = np.nan
    return X


# ---- inference (fuzzed most) -------------------------------------------------------------------------------

@fuzz(240)
@given(data=st.data(), estimator=st.sampled_from(["s3vdc", "loster", "loster_raw"]))
def test_fuzz_inference(fitted, data, estimator):
    EXAMPLES["inference"] += 1
    model = fitted[estimator]
    X = data.draw(arrays(), label="X")
    for method in INFERENCE_METHODS[estimator]:
        output = _call(model, method, X)
        if output is not None:
            _check_output(model, method, output, X)


@fuzz(20)
@given(X=arrays(), make=st.sampled_from([make_s3vdc, make_loster]))
def test_fuzz_unfitted_inference_is_not_fitted_error(X, make):
    EXAMPLES["unfitted"] += 1
    model = make()
    for method in INFERENCE_METHODS["s3vdc" if make is make_s3vdc else "loster"]:
        with pytest.raises(NotFittedError):
            getattr(model, method)(X)


@fuzz(60)
@given(X=st.one_of(padded_series(), padded_series(n_channels=2), padded_series(n_channels=1),
                   padded_series(n_timestamps=5)),
       estimator=st.sampled_from(["loster", "loster_raw", "loster_3d"]))
def test_fuzz_loster_variable_length(fitted, X, estimator):
    EXAMPLES["loster_variable_length"] += 1
    model = fitted[estimator]
    for method in INFERENCE_METHODS["loster"]:
        output = _call(model, method, X)
        if output is not None:
            _check_output(model, method, output, X)


@fuzz(60)
@given(Z=arrays(n_features=4))
def test_fuzz_loster_inverse_transform(fitted, Z):
    EXAMPLES["inverse_transform"] += 1
    model = fitted["loster"]
    output = _call(model, "inverse_transform", Z)
    if output is not None:
        assert output.shape == (Z.shape[0], N_FEATURES) and np.isfinite(output).all()


@fuzz(40)
@given(n_samples=st.one_of(st.integers(-3, 50), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                           st.sampled_from([np.int64(4), np.float64(2.0), np.array([2])])))
def test_fuzz_s3vdc_sample(fitted, n_samples):
    EXAMPLES["sample"] += 1
    model = fitted["s3vdc"]
    output = _call(model, "sample", n_samples)
    if output is not None:
        X, y = output
        assert X.shape == (int(n_samples), N_FEATURES) and np.isfinite(X).all()
        assert y.shape == (int(n_samples),) and ((y >= 0) & (y < model.n_clusters)).all()


# ---- fit (fuzzed less: each example trains a model) -----------------------------------------------------------

@fuzz(40)
@given(X=arrays(n_features=None, min_rows=0, ndims=(1, 2, 2, 2, 2, 3)),
       n_clusters=st.integers(1, 4), latent_dim=st.integers(1, 3),
       hidden_dims=st.lists(st.integers(1, 8), max_size=2).map(tuple),
       batch_size=st.sampled_from([4, 16, 64]), learning_rate=st.floats(1e-4, 1.0),
       gmm_init_samples=st.integers(1, 50), reconstruction=st.sampled_from(["gaussian", "bernoulli"]))
def test_fuzz_s3vdc_fit(X, n_clusters, latent_dim, hidden_dims, batch_size, learning_rate, gmm_init_samples,
                        reconstruction):
    EXAMPLES["s3vdc_fit"] += 1
    model = make_s3vdc(n_clusters=n_clusters, latent_dim=latent_dim, hidden_dims=hidden_dims,
                       batch_size=batch_size, learning_rate=learning_rate, gmm_init_samples=gmm_init_samples,
                       reconstruction=reconstruction)
    method = ("fit", "fit_predict", "fit_transform")[len(hidden_dims) % 3]
    output = _call(model, method, X)
    if output is not None:
        _check_output(model, method, output, X)


@fuzz(40)
@given(X=st.one_of(arrays(n_features=None, min_rows=0),
                   padded_series(n_timestamps=6), padded_series(n_timestamps=6, n_channels=2)),
       n_clusters=st.integers(1, 4), normalize=st.booleans(), variable_length=st.sampled_from(["resample", "mask"]),
       batch_size=st.sampled_from([4, 16, 64]), latent_dim=st.integers(1, 4))
def test_fuzz_loster_fit(X, n_clusters, normalize, variable_length, batch_size, latent_dim):
    EXAMPLES["loster_fit"] += 1
    model = make_loster(n_clusters=n_clusters, normalize=normalize, variable_length=variable_length,
                        batch_size=batch_size, latent_dim=latent_dim)
    method = ("fit", "fit_predict", "fit_transform")[n_clusters % 3]
    output = _call(model, method, X)
    if output is not None:
        _check_output(model, method, output, X)


# ---- parameters -------------------------------------------------------------------------------------------------

def _valid_values(name, constraint):
    """Values that satisfy one constraint, kept small where a large one only means a long fit."""
    span = 4 if ("epoch" in name or name.startswith(("n_", "max_")) or "dim" in name or name == "batch_size") else 10
    if isinstance(constraint, Interval):
        low = -span if constraint.left is None else constraint.left
        high = low + span if constraint.right is None else min(constraint.right, low + span)
        if constraint.type is Integral:
            low += constraint.closed in ("right", "neither")
            high -= constraint.closed in ("left", "neither")
            return st.integers(low, max(low, high))
        # Larger magnitudes are the deterministic extreme-value cases of test_bad_input.
        return st.floats(low, high, exclude_min=constraint.closed in ("right", "neither"),
                         exclude_max=constraint.closed in ("left", "neither") or constraint.right is None)
    if isinstance(constraint, StrOptions):
        return st.sampled_from(sorted(constraint.options))
    if constraint == "boolean":
        return st.booleans()
    if constraint is tuple:  # hidden_dims, input_shape
        return st.lists(st.integers(1, 8), max_size=3).map(tuple)
    if constraint is str:  # device
        return st.sampled_from(["cpu", "auto"])
    if constraint == "random_state":
        return st.integers(0, 2**32 - 1)
    if constraint == "verbose":
        return st.just(0)  # 1 and 2 print progress
    if constraint is None:
        return st.none()
    return st.nothing()


def _invalid_values(name, constraints):
    """Wrong types, values out of range, NaN and infinities."""
    options = [st.text(max_size=4), st.sampled_from([np.nan, np.inf, -np.inf, 1 + 1j, -1, -0.5, 1.5, b"x"])]
    if any(isinstance(c, Interval) and c.type is Integral for c in constraints):
        options.append(st.booleans())  # bool is an int in Python, but not a valid count
    if None not in constraints and "random_state" not in constraints:
        options.append(st.none())
    for constraint in constraints:
        if isinstance(constraint, Interval) and constraint.left is not None:
            options.append(st.floats(constraint.left - 10, constraint.left))
        if isinstance(constraint, Interval) and constraint.right is not None:
            options.append(st.floats(constraint.right, constraint.right + 10))
        if constraint is tuple:
            options.append(st.lists(st.one_of(st.integers(-1, 0), st.floats(0, 4), st.text(max_size=1), st.none(),
                                              st.booleans()),
                                    min_size=1, max_size=3).map(tuple))
            options.append(st.lists(st.integers(1, 4), max_size=3))  # a list, not a tuple
        if constraint is str:
            options.append(st.sampled_from(["cuda", "cuda:1", "tpu", "", "CPU", "mps"]))
    return st.one_of(*options)


def _values_for(name, constraints):
    """Half valid, half invalid values for one parameter, from its scikit-learn constraints."""
    valid = st.one_of(*[_valid_values(name, constraint) for constraint in constraints])
    return st.booleans().flatmap(lambda ok: valid if ok else _invalid_values(name, constraints))


def _params(make):
    """One to three parameters at a time, each valid or not."""
    constraints = type(make())._parameter_constraints
    names = sorted(constraints)
    return st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: _values_for(key, constraints[key]) for key in keys}))


@fuzz(60)
@given(params=_params(make_s3vdc))
def test_fuzz_s3vdc_parameters(params):
    EXAMPLES["s3vdc_parameters"] += 1
    _fit_with(make_s3vdc, params)


@fuzz(60)
@given(params=_params(make_loster))
def test_fuzz_loster_parameters(params):
    EXAMPLES["loster_parameters"] += 1
    _fit_with(make_loster, params)


def _fit_with(make, params):
    if params.get("encoder") == "conv" and isinstance(params.get("input_shape"), tuple):
        params["input_shape"] = params["input_shape"][:3]
    model = make(**params)
    output = _call(model, "fit", X_TRAIN)
    if output is not None:
        _check_output(model, "fit", output, X_TRAIN)
