"""scikit-learn's full common estimator checks, and checks that every public estimator is in them."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

import skdeepcluster
from tests._configs import tiny_loster, tiny_s3vdc

ESTIMATORS = [
    tiny_s3vdc(),
    # The common checks feed tabular blobs with 2-10 "timestamps"; z-normalising each row of
    # such data (LoSTer's default for real series) would erase the blobs, so it is off here.
    # The series-specific behaviour has its own checks in tests/loster/.
    tiny_loster(normalize=False),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
def test_param_validation(estimator):
    # Not part of the default generator (specs/conventions.md, A.5): run it explicitly.
    check_param_validation(type(estimator).__name__, estimator)


def test_every_public_estimator_is_checked():
    public = {name for name, obj in inspect.getmembers(skdeepcluster, inspect.isclass)
              if issubclass(obj, BaseEstimator)}  # not ModelFileError
    assert public == {type(est).__name__ for est in ESTIMATORS}
