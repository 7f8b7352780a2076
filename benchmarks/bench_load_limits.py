"""What ``skdeepcluster.load`` does with the crafted files of issue 14, and with fuzzed files.

Builds the crafted files of ``tests/test_persistence_limits.py`` (the issue's table, row by
row, and more) and ~1,900 byte-flipped files, then loads each in one child process under an
address-space limit (``tests/_load_fuzz_child.py``: ``RLIMIT_AS`` = the address space after
importing torch and skdeepcluster + 512 MiB) and prints, per crafted file, the outcome, the
time and the growth of the resident set during the load, then a summary per family of
flipped files::

    python benchmarks/bench_load_limits.py

Before issue 14 (main at 7bed2f9, from the issue's table): the 10 KB file with a
``<U500000000`` array grew to 8 GB over 55 s and loaded; 100,000 hidden layers took 53-150 s
and ~1.9 GB; ``/dev/zero`` was read until memory ran out.
"""

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests._configs import tiny_loster, tiny_s3vdc  # noqa: E402
from tests.test_persistence_limits import X_SERIES, X_TABLE, _fuzz_folder, crafted_files  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        saved = {"s3vdc": folder / "s3vdc.skdc", "loster": folder / "loster.skdc"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tiny_s3vdc().fit(X_TABLE).save(saved["s3vdc"])
            tiny_loster(max_epochs=1, pretrain_epochs=2, tol=0).fit(X_SERIES).save(saved["loster"])
        (folder / "crafted").mkdir()
        (folder / "fuzz").mkdir()
        crafted = crafted_files(folder / "crafted", saved)
        _fuzz_folder(folder / "fuzz", saved, crafted)
        completed = subprocess.run([sys.executable, str(REPO / "tests" / "_load_fuzz_child.py"),
                                    str(folder / "fuzz"), "512"], capture_output=True, text=True, check=True,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        sizes = {name: os.path.getsize(folder / "fuzz" / name) for name in report["outcomes"]}
    outcomes, details = report["outcomes"], report["details"]
    print("| crafted file | size (KiB) | outcome | seconds | memory growth (MiB) |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name in sorted(name for name in outcomes if name.startswith("refuse-")):
        seconds, growth = details[name]
        print(f"| {name.removeprefix('refuse-')} | {sizes[name] / 1024:.0f} | {outcomes[name]} | {seconds:.3f} | "
              f"{growth:.1f} |")
    print()
    print("| flipped files | count | loaded | refused (ModelFileError) | other | slowest (s) | largest growth (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    families = sorted({name.rsplit("-", 1)[0] for name in outcomes if name.startswith("flip-")})
    for family in families:
        names = [name for name in outcomes if name.rsplit("-", 1)[0] == family]
        results = [outcomes[name] for name in names]
        print(f"| {family} | {len(names)} | {results.count('ok')} | {results.count('ModelFileError')} | "
              f"{len(names) - results.count('ok') - results.count('ModelFileError')} | "
              f"{max(details[name][0] for name in names):.3f} | {max(details[name][1] for name in names):.1f} |")


if __name__ == "__main__":
    main()
