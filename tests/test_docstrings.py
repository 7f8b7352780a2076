"""numpydoc validation of every public docstring, with scikit-learn's choice of ignored codes."""

import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is part of the test extras")

import skdeepcluster  # noqa: E402
from skdeepcluster import datasets, distributed, metrics  # noqa: E402

# As sklearn/tests/test_docstrings.py: summary/extended-summary layout codes are not enforced,
# and methods need no See Also / Examples / extended summary of their own. Every public class
# and function must have See Also and Examples (SA01, EX01).
IGNORED_EVERYWHERE = {"GL01", "GL02", "RT02", "ES01"}
IGNORED_FOR_METHODS = {"EX01", "SA01"}


def _public_objects():
    for name in skdeepcluster.__all__:
        obj = getattr(skdeepcluster, name)
        if inspect.isfunction(obj):
            yield f"skdeepcluster.{name}", False
        if not inspect.isclass(obj):
            continue
        yield f"skdeepcluster.{name}", False
        for method_name, method in inspect.getmembers(obj, inspect.isfunction):
            # Methods skdeepcluster defines, on the class or on a shared base (save), not scikit-learn's.
            if method_name.startswith("_") or not method.__module__.startswith("skdeepcluster."):
                continue
            yield f"skdeepcluster.{name}.{method_name}", True
    for module in (datasets, distributed, metrics):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and function.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", False


@pytest.mark.parametrize("import_path, is_method", list(_public_objects()), ids=lambda v: str(v))
def test_docstring(import_path, is_method):
    ignored = IGNORED_EVERYWHERE | (IGNORED_FOR_METHODS if is_method else set())
    errors = [(code, message) for code, message in numpydoc_validate.validate(import_path)["errors"]
              if code not in ignored]
    assert not errors, "\n".join(f"{code}: {message}" for code, message in errors)
