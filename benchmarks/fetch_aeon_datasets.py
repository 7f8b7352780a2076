#!/usr/bin/env python3
"""Put the multivariate and variable-length datasets that ship inside aeon's wheel on disk, offline.

aeon's PyPI wheel bundles a few .ts files of the UEA/UCR archives. This script downloads the
wheel with pip (no install, no dependencies) and copies, in the archive's own layout,

    DEST/<Name>/<Name>_TRAIN.ts and DEST/<Name>/<Name>_TEST.ts

for BasicMotions (multivariate, 6 channels), JapaneseVowels (multivariate, 12 channels,
variable length) and PickupGestureWiimoteZ (univariate, variable length), the data of
``bench_loster.py extensions``.

Usage: python benchmarks/fetch_aeon_datasets.py DEST
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "aeon==1.6.0"
DATASETS = ["BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=pathlib.Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet", "-d", folder],
                       check=True)
        wheel = zipfile.ZipFile(next(pathlib.Path(folder).glob("*.whl")))
        for name in DATASETS:
            for split in ("TRAIN", "TEST"):
                member = f"aeon/datasets/data/{name}/{name}_{split}.ts"
                target = args.dest / name / f"{name}_{split}.ts"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(member))
    print(f"{len(DATASETS)} datasets in {args.dest}")


if __name__ == "__main__":
    main()
