"""Run the README's Python snippets as a user would paste them, in order, and time each one.

All snippets run in one fresh Python process, in a temporary folder (``model.save`` writes
there), with the package of this checkout, the default thread policy and no warnings hidden.
Prints a table of the snippets (first code line), their wall and CPU seconds; writes
``benchmarks/results/readme-cpu.json``. The README states these times.

    python benchmarks/bench_readme.py [--readme README.md]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_RUNNER = r"""
import json, resource, sys, time
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

for index, source in enumerate(blocks):
    started, cpu_before = time.perf_counter(), cpu()
    exec(compile(source, f"<README snippet {index + 1}>", "exec"), namespace)
    print(json.dumps({"snippet": index + 1, "seconds": time.perf_counter() - started,
                      "cpu_seconds": cpu() - cpu_before}), flush=True)
"""


def python_snippets(readme_path):
    """The README's ```python blocks, in order."""
    with open(readme_path, encoding="utf-8") as readme:
        text = readme.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    parser.add_argument("--output", default=os.path.join(HERE, "results", "readme-cpu.json"))
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    from _common import machine_description

    blocks = python_snippets(args.readme)
    with tempfile.TemporaryDirectory() as folder:
        blocks_path = os.path.join(folder, "blocks.json")
        with open(blocks_path, "w") as handle:
            json.dump(blocks, handle)
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        load_before = os.getloadavg()
        run = subprocess.run([sys.executable, "-c", _RUNNER, blocks_path], cwd=folder, env=env,
                             capture_output=True, text=True)
        load_after = os.getloadavg()
    if run.returncode != 0:
        sys.exit(f"a README snippet failed:\n{run.stderr[-4000:]}")
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"snippet"')]
    print(f"{machine_description()}; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"{'snippet':<9}{'seconds':>9}{'CPU s':>8}  first line")
    for row in rows:
        row["first_line"] = next(line for line in blocks[row["snippet"] - 1].splitlines() if line.strip())
        print(f"{row['snippet']:<9}{row['seconds']:>9.1f}{row['cpu_seconds']:>8.1f}  {row['first_line']}")
    if run.stderr.strip():
        print("stderr (warnings):\n" + run.stderr[-3000:])
    with open(args.output, "w") as handle:
        json.dump({"machine": machine_description(), "load_before": load_before, "load_after": load_after,
                   "rows": rows, "stderr": run.stderr[-3000:]}, handle, indent=1)


if __name__ == "__main__":
    main()
