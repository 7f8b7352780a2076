"""Tests of skdeepcluster.datasets: the UCR archive reader and the synthetic series generator."""

import re

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from skdeepcluster.datasets import load_ucr_dataset, make_synthetic_series

# Labels deliberately unsorted, negative and non-contiguous: encoded as -1 -> 0, 2 -> 1, 7 -> 2.
TRAIN_ROWS = [
    [7, 1.0, 2.0, 3.0, 4.0],
    [-1, 5.0, 5.0, 5.0, 5.0],
    [2, 0.0, 10.0, 0.0, 10.0],
]
TEST_ROWS = [
    [2, 4.0, 3.0, 2.0, 1.0],
    [-1, 1.0, 1.0, 2.0, 2.0],
]


def _write_tsv(path, rows):
    """Write rows the way the UCR 2018 archive does: headerless TSV, NaN written as ``NaN``."""
    lines = ["\t".join("NaN" if np.isnan(value) else repr(float(value)) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _write_dataset(root, name, train_rows, test_rows):
    folder = root / name
    folder.mkdir(parents=True)
    _write_tsv(folder / f"{name}_TRAIN.tsv", train_rows)
    _write_tsv(folder / f"{name}_TEST.tsv", test_rows)
    return root


def _expected_znorm(row):
    values = np.asarray(row, dtype=float)
    observed = values[~np.isnan(values)]
    std = observed.std() or 1.0
    return (values - observed.mean()) / std


@pytest.fixture
def ucr_root(tmp_path):
    return _write_dataset(tmp_path, "Toy", TRAIN_ROWS, TEST_ROWS)


def test_load_merged_keeps_train_then_test_order(ucr_root):
    X, y = load_ucr_dataset("Toy", ucr_root, normalize=False)
    raw = np.array(TRAIN_ROWS + TEST_ROWS)
    assert X.dtype == np.float64 and X.shape == (5, 4)
    np.testing.assert_array_equal(X, raw[:, 1:])
    np.testing.assert_array_equal(y, [2, 0, 1, 1, 0])


def test_load_split_shares_one_label_encoding(ucr_root):
    X_train, y_train, X_test, y_test = load_ucr_dataset("Toy", ucr_root, merge=False, normalize=False)
    np.testing.assert_array_equal(X_train, np.array(TRAIN_ROWS)[:, 1:])
    np.testing.assert_array_equal(X_test, np.array(TEST_ROWS)[:, 1:])
    np.testing.assert_array_equal(y_train, [2, 0, 1])
    np.testing.assert_array_equal(y_test, [1, 0])
    assert y_train.dtype.kind == "i"


def test_load_normalizes_each_series_with_population_std(ucr_root):
    X, _ = load_ucr_dataset("Toy", ucr_root)
    for row, expected in zip(X, TRAIN_ROWS + TEST_ROWS, strict=True):
        np.testing.assert_allclose(row, _expected_znorm(expected[1:]), atol=1e-12)
    # The constant series stays finite: centred, divided by 1.
    np.testing.assert_array_equal(X[1], np.zeros(4))
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(X[[0, 2, 3, 4]].std(axis=1), 1)


def test_load_variable_length_keeps_nan_padding(tmp_path):
    nan = np.nan
    train = [[1, 1.0, 2.0, 3.0, nan, nan], [2, 4.0, 0.0, 4.0, 0.0, 4.0]]
    test = [[1, 3.0, 3.0, nan, nan, nan]]
    _write_dataset(tmp_path, "Ragged", train, test)
    X, y = load_ucr_dataset("Ragged", tmp_path)
    np.testing.assert_array_equal(np.isnan(X), np.isnan(np.array(train + test)[:, 1:]))
    for row, expected in zip(X, train + test, strict=True):
        np.testing.assert_allclose(row, _expected_znorm(expected[1:]), atol=1e-12)
    np.testing.assert_array_equal(y, [0, 1, 0])


def test_load_pads_rows_and_files_of_different_widths(tmp_path):
    folder = tmp_path / "Uneven"
    folder.mkdir()
    # Rows with fewer fields than the longest one and a train file narrower than the test file.
    (folder / "Uneven_TRAIN.tsv").write_text("1\t1\t2\n2\t3\n")
    (folder / "Uneven_TEST.tsv").write_text("1\t5\t6\t7\n")
    X_train, y_train, X_test, y_test = load_ucr_dataset("Uneven", tmp_path, merge=False, normalize=False)
    np.testing.assert_array_equal(X_train, [[1, 2, np.nan], [3, np.nan, np.nan]])
    np.testing.assert_array_equal(X_test, [[5, 6, 7]])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), [0, 1, 0])


def test_load_missing_file_names_the_layout(tmp_path):
    (tmp_path / "Half").mkdir()
    _write_tsv(tmp_path / "Half" / "Half_TRAIN.tsv", TRAIN_ROWS)
    with pytest.raises(FileNotFoundError, match=r"Half_TEST\.tsv.*<name>/<name>_TRAIN\.tsv"):
        load_ucr_dataset("Half", tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape("Absent_TRAIN.tsv")):
        load_ucr_dataset("Absent", tmp_path)


@pytest.mark.parametrize("n_channels", [1, 3])
def test_synthetic_shapes_dtype_and_labels(n_channels):
    X, y = make_synthetic_series(n_samples=40, n_timestamps=30, n_channels=n_channels, n_clusters=4,
                                 random_state=0)
    assert X.shape == ((40, 30) if n_channels == 1 else (40, 30, 3))
    assert X.dtype == np.float64 and np.isfinite(X).all()
    assert y.shape == (40,)
    np.testing.assert_array_equal(np.bincount(y), [10, 10, 10, 10])


def test_synthetic_is_deterministic_for_an_int_seed():
    first = make_synthetic_series(n_samples=20, n_timestamps=25, variable_length=True, random_state=3)
    second = make_synthetic_series(n_samples=20, n_timestamps=25, variable_length=True, random_state=3)
    other = make_synthetic_series(n_samples=20, n_timestamps=25, variable_length=True, random_state=4)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0], equal_nan=True)


@pytest.mark.parametrize("n_channels", [1, 2])
def test_synthetic_variable_length_pads_with_trailing_nan_only(n_channels):
    X, _ = make_synthetic_series(n_samples=50, n_timestamps=40, n_channels=n_channels, variable_length=True,
                                 min_length_fraction=0.25, random_state=0)
    missing = np.isnan(X) if n_channels == 1 else np.isnan(X).any(axis=2)
    if n_channels > 1:
        # A time step is either observed in every channel or missing in every channel.
        np.testing.assert_array_equal(np.isnan(X).all(axis=2), missing)
    lengths = (~missing).sum(axis=1)
    # Trailing only: the observed steps are exactly the first `length` ones.
    np.testing.assert_array_equal(missing, np.arange(40) >= lengths[:, None])
    assert lengths.min() >= 10 and lengths.max() <= 40
    assert len(np.unique(lengths)) > 5


def test_synthetic_min_length_fraction_one_keeps_full_length():
    X, _ = make_synthetic_series(n_samples=10, n_timestamps=20, variable_length=True, min_length_fraction=1.0,
                                 random_state=0)
    assert np.isfinite(X).all()


def test_synthetic_clusters_are_recovered_by_kmeans():
    X, y = make_synthetic_series(n_samples=150, n_timestamps=100, n_clusters=5, noise=0.3, random_state=0)
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(X)
    # Chance is ARI 0; distinct prototypes under this noise should be found almost perfectly.
    assert adjusted_rand_score(y, labels) > 0.9


def test_synthetic_noise_controls_the_spread_around_the_prototype():
    clean, _y = make_synthetic_series(n_samples=60, n_timestamps=200, noise=0.0, random_state=0)
    noisy, _ = make_synthetic_series(n_samples=60, n_timestamps=200, noise=0.5, random_state=0)
    # Same seed: same shapes, shifts and gains; only the added noise differs.
    np.testing.assert_allclose((noisy - clean).std(), 0.5, rtol=0.05)
    # Each prototype has a root mean square of about 1 (times a gain in [0.8, 1.2]).
    assert 0.6 < np.sqrt((clean**2).mean()) < 1.4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_timestamps": 0}, "n_timestamps"),
        ({"n_channels": -1}, "n_channels"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": True}, "n_clusters"),
        ({"n_samples": 3, "n_clusters": 4}, "must not exceed"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"min_length_fraction": 0.0}, "min_length_fraction"),
        ({"min_length_fraction": 1.5}, "min_length_fraction"),
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_series(**kwargs)
