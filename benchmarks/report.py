"""Turn the benchmark results into the tables and figures of the documentation.

Every ``bench_*.py`` script writes its measurements to ``benchmarks/results/*.json``. This
script reads those files and writes, for the Sphinx page ``doc/benchmarks.rst``, one
reStructuredText table per result (``*.rst``, included by the page) and the figures
(``*.png``). The documentation build runs it (``doc/conf.py``), so the published tables
always match the JSON on disk and are never copied by hand.

Usage::

    python benchmarks/report.py [--results benchmarks/results] [--output DIR]

A result file that is missing is skipped with a note in its table's place, so the page
still builds while a benchmark is being re-run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# S3VDC's published MNIST accuracy (Cao et al., 2020, Table 3: mean ± std of 10 runs).
S3VDC_PAPER_MNIST_ACC = (0.936, 0.018)


def _mean_std(values, digits=3):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def _list_table(header, rows):
    """A reStructuredText list-table; every cell is already a string."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _missing(name):
    return f".. note::\n\n   ``benchmarks/results/{name}`` is not on disk; run its benchmark.\n"


def _load(results_dir, name):
    path = Path(results_dir) / name
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def s3vdc_table(result, paper_acc=None):
    """ACC / NMI / ARI / fit seconds per model of one ``bench_s3vdc.py`` run."""
    rows = []
    for model, runs in result["results"].items():
        label = "GaussianMixture (diag)" if model == "GaussianMixture" else model
        rows.append(
            [
                label,
                _mean_std([run["acc"] for run in runs]),
                _mean_std([run["nmi"] for run in runs]),
                _mean_std([run["ari"] for run in runs]),
                _mean_std([run["fit_seconds"] for run in runs], digits=1),
            ]
        )
    if paper_acc is not None:
        rows.append(
            [
                "*S3VDC, paper Table 3 (full schedule, GPU)*",
                f"*{paper_acc[0]:.3f} ± {paper_acc[1]:.3f}*",
                "",
                "",
                "",
            ]
        )
    return _list_table(["model", "ACC", "NMI", "ARI", "fit seconds"], rows)


def s3vdc_sets_table(result):
    """ACC per set of ``bench_s3vdc.py sets``: S3VDC at initialisation and at the end, and the baselines."""
    rows = []
    names = list(dict.fromkeys(row["set"] for row in result["rows"]))
    for name in names:
        runs = [row for row in result["rows"] if row["set"] == name]
        rows.append([f"{name} ({len(runs)} seeds)"]
                    + [_mean_std([run[key] for run in runs]) if key in runs[0] else ""
                       for key in ("s3vdc_init", "s3vdc", "kmeans", "gmm", "spectral")]
                    + [_mean_std([run["s3vdc_seconds"] for run in runs], digits=0)])
    return _list_table(["data", "S3VDC at init", "S3VDC", "KMeans", "GaussianMixture (diag)", "Spectral (10-NN)",
                        "S3VDC fit seconds"], rows)


def s3vdc_cost_table(results):
    """Throughput, share of the matmul peak and GMM-initialisation cost per dataset."""
    rows = []
    for name, result in results.items():
        init = result.get("gmm_init", {})
        mini, full = init.get("mini-batch"), init.get("all samples")
        rows.append(
            [
                f"{name} ({result['shape'][0]:,} x {result['shape'][1]})",
                f"{result['throughput_samples_per_s']:,.0f}",
                f"{result['achieved_flops'] / 1e9:.0f}",
                f"{100 * result['achieved_flops'] / result['peak_matmul_flops']:.0f} %",
                f"{mini['samples']:,}: {mini['seconds']:.2f} s, ACC {mini['acc_of_init']:.3f}"
                if mini
                else "",
                f"{full['samples']:,}: {full['seconds']:.2f} s, ACC {full['acc_of_init']:.3f}"
                if full
                else "",
                str(result.get("nonfinite_steps", "")),
            ]
        )
    header = [
        "data",
        "samples / s",
        "GFLOP/s",
        "of matmul peak",
        "GMM init, mini-batch",
        "GMM init, all samples",
        "non-finite steps",
    ]
    return _list_table(header, rows)


def loster_ucr_table(result):
    """The paper's 10 UCR datasets: published scores, ours, KMeans and KShape."""

    def brief(summary):
        return (
            f"{summary['mean_ri']:.3f} / {summary['mean_nmi']:.3f} / "
            f"{summary['mean_seconds']:.1f}"
        )

    rows = []
    for name, entry in result["datasets"].items():
        n, length = entry["shape"]
        loster = entry["summary"]["LoSTer"]
        rows.append(
            [
                f"{name} ({n} x {length}, {entry['n_clusters']})",
                f"{entry['paper']['ri']:.4f} / {entry['paper']['nmi']:.4f}",
                f"{loster['mean_ri']:.3f} ± {loster['std_ri']:.3f}",
                f"{loster['mean_nmi']:.3f} ± {loster['std_nmi']:.3f}",
                f"{loster['mean_seconds']:.1f} ± {loster['std_seconds']:.1f}",
                brief(entry["summary"]["KMeans"]),
                brief(entry["summary"]["KShape"]) if "KShape" in entry["summary"] else "",
            ]
        )
    papers = [entry["paper"] for entry in result["datasets"].values()]
    mean = result["mean_over_datasets"]
    rows.append(
        [
            f"**mean of the {len(papers)}**",
            f"{np.mean([p['ri'] for p in papers]):.4f} / "
            f"{np.mean([p['nmi'] for p in papers]):.4f}",
            f"{mean['LoSTer']['mean_ri']:.3f} ± {mean['LoSTer']['std_ri']:.3f}",
            f"{mean['LoSTer']['mean_nmi']:.3f} ± {mean['LoSTer']['std_nmi']:.3f}",
            f"{mean['LoSTer']['mean_seconds']:.1f} ± {mean['LoSTer']['std_seconds']:.1f}",
            brief(mean["KMeans"]),
            brief(mean["KShape"]) if "KShape" in mean else "",
        ]
    )
    header = [
        "dataset (n x T, k)",
        "paper LoSTer RI / NMI",
        "LoSTer RI",
        "LoSTer NMI",
        "LoSTer s",
        "KMeans RI / NMI / s",
        "KShape RI / NMI / s",
    ]
    return _list_table(header, rows)


def loster_extensions_table(result):
    """Multivariate and variable-length sets: every method, mean ± std over seeds."""
    rows = []
    for name, entry in result["datasets"].items():
        n, _, channels = entry["shape"]
        shortest, longest = entry["lengths"]
        for method, runs in entry["runs"].items():
            rows.append(
                [
                    name,
                    f"{n} x {shortest}-{longest} x {channels}",
                    method,
                    _mean_std([run["ri"] for run in runs]),
                    _mean_std([run["nmi"] for run in runs]),
                    _mean_std([run["ari"] for run in runs]),
                    _mean_std([run["seconds"] for run in runs], digits=1),
                ]
            )
    header = ["dataset", "shape (n, T, d)", "method", "RI", "NMI", "ARI", "fit s"]
    return _list_table(header, rows)


def loster_budget_table(result):
    """The paper's full budget on one dataset, with the share of the matmul peak."""
    rows = [
        [
            run["setting"],
            f"{run['pretrain_epochs']} + {run['joint_epochs']}",
            f"{run['seconds']:.1f}",
            f"{run['seconds_per_pretrain_epoch']:.2f}",
            f"{run['seconds_per_joint_epoch']:.2f}",
            f"{run['achieved_flops'] / 1e9:.1f}",
            f"{run['percent_of_peak']:.0f} %",
            f"{run['ri']:.3f} / {run['nmi']:.3f}",
        ]
        for run in result["runs"]
    ]
    header = [
        "stopping",
        "epochs (pretrain + joint)",
        "fit s",
        "s / pretrain epoch",
        "s / joint epoch",
        "GFLOP/s",
        f"of the {result['peak_matmul_flops'] / 1e9:.0f} GFLOP/s peak",
        "RI / NMI",
    ]
    return _list_table(header, rows)


def loster_scaling_table(default, huge_pages=None):
    """Seconds per epoch and peak memory against series length."""
    by_length = {point["length"]: point for point in huge_pages["points"]} if huge_pages else {}
    rows = []
    for point in default["points"]:
        row = [
            f"{point['length']:,}",
            f"{point['seconds_per_pretrain_epoch']:.2f}",
            f"{point['seconds_per_joint_epoch']:.2f}",
            f"{point['peak_rss_mib']:,.0f} MiB",
        ]
        if huge_pages:
            other = by_length.get(point["length"])
            row.append(
                f"{other['seconds_per_pretrain_epoch']:.2f}, {other['seconds_per_joint_epoch']:.2f}"
                if other
                else ""
            )
        rows.append(row)
    header = ["length", "s / pretraining epoch", "s / joint epoch", "peak RSS"]
    if huge_pages:
        header.append("with ``THP_MEM_ALLOC_ENABLE=1``: s / pretraining, joint epoch")
    return _list_table(header, rows)


def memory_table(result):
    """Peak anonymous memory of fit, predict and transform on float32 memmaps (``bench_memory.py``)."""
    rows = []
    for row in result["rows"]:
        mib = round(row["data_mib"])
        size = f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib} MiB"
        peaks = [f"{row['peak_mib'][op]:,.0f} MiB" if op in row["peak_mib"] else "not run"
                 for op in ("fit", "predict", "transform")]
        rows.append([size, f"{row['n_samples']:,}", row["estimator"], str(row["batch_size"]), *peaks])
    header = ["data", "n_samples", "estimator", "batch_size", "fit", "predict", "transform"]
    return _list_table(header, rows) + f"\nMachine: {result['machine']}.\n"


def ddp_speedup_table(result):
    """Training seconds per epoch, speed-up and quality of 1 and 2 processes (``bench_ddp.py speedup``)."""
    names = {"s3vdc": "S3VDC, 20,000 x 784", "loster": "LoSTer, 2,000 x 1,024"}
    rows = []
    for estimator, runs in result["speedup"].items():
        for run in runs["runs"]:
            rows.append([names.get(estimator, estimator), f"{run['processes']} x {run['threads']}",
                         f"{run['train_seconds_per_epoch']:.2f}", f"{run['speedup']:.2f}",
                         f"{run['fit_seconds']:.1f}",
                         f"{run['fit_cpu_seconds']:.1f}" if "fit_cpu_seconds" in run else "-",
                         f"{run['cpu_speedup']:.2f}" if "cpu_speedup" in run else "-",
                         f"{run['ari']:.3f}", f"{run['acc']:.3f}",
                         f"{run['load_before']:.1f}",
                         f"{run['allreduce_ms']:.1f} ms" if run.get("allreduce_ms") else "-"])
    header = ["data", "processes x threads", "train s/epoch", "speed-up", "fit s", "fit CPU s (busiest process)",
              "CPU-time speed-up", "ARI", "ACC",
              "load average before", "one gradient all-reduce"]
    return _list_table(header, rows) + f"\nMachine: {result['machine']}.\n"


def ddp_paper_scale_table(result):
    """Measured S3VDC step rates on a 1 M-row memmap and their extrapolation to 10 M rows."""
    measured, plan = result["paper_scale"]["measured"], result["paper_scale"]["plan_10m"]
    rows = [[str(row["batch_size"]), str(row["threads"]), f"{row['seconds_per_step'] * 1e3:.1f} ms",
             f"{row['samples_per_second']:,.0f}", f"{row['seconds_per_epoch_measured_rows'] / 60:.1f} min",
             f"{row['seconds_per_epoch_10m'] / 3600:.2f} h"] for row in measured["steps"]]
    header = ["batch", "threads", "s/step (measured)", "samples/s", f"epoch of {measured['rows']:,}",
              "epoch of 10 M (extrapolated)"]
    lines = [_list_table(header, rows), "",
             f"Measured on {measured['rows']:,} x {measured['features']} float32 rows read from an np.memmap: "
             f"{measured['parameters']:,} parameters; GMM initialisation on {measured['gmm_init_samples']:,} "
             f"samples {measured['gmm_init_seconds']:.1f} s; ``labels_`` inference "
             f"{measured['inference_rows_per_second']:,.0f} rows/s; peak RSS {measured['peak_rss_mib']:,.0f} MiB.",
             "", "Extrapolated to 10 M rows on this CPU:", ""]
    threads = result["paper_scale"]["extrapolated"].get("batch128_threads", 1)
    plan_rows = [[f"the paper's step budget (200,000 steps of 128), 1 process, {threads} thread(s)",
                  f"{plan['paper_step_budget_hours_batch128']:.1f} h"]]
    if "paper_step_budget_hours_2_processes" in plan:
        plan_rows.append(["the same on 2 data-parallel processes of 1 thread",
                          f"{plan['paper_step_budget_hours_2_processes']:.1f} h"])
    plan_rows += [[f"the default schedule ({plan['default_schedule_epochs']} epochs), 1 process, {threads} thread(s)",
                   f"{plan['default_schedule_hours_10m_batch128']:,.0f} h"],
                  ["``labels_`` of 10 M rows at the end of fit", f"{plan['labels_inference_minutes_10m']:.0f} min"],
                  ["memmap of 10 M x 60 float32", f"{plan['memmap_gib_10m']:.2f} GiB"],
                  ["float64 responsibilities behind ``labels_``", f"{plan['responsibilities_mib_10m']:,.0f} MiB"]]
    lines.append(_list_table(["10 M samples", "estimate"], plan_rows))
    return "\n".join(lines) + f"\nMachine: {result['machine']}.\n"


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loster_ucr_figure(result, path):
    """RI and NMI per dataset: the paper's LoSTer, ours (mean ± std), KMeans, KShape."""
    plt = _figure()
    names = list(result["datasets"])
    methods = ["paper LoSTer", "LoSTer", "KMeans", "KShape"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    positions = np.arange(len(names))
    width = 0.2
    for ax, metric in zip(axes, ["ri", "nmi"], strict=True):
        for index, method in enumerate(methods):
            if method == "paper LoSTer":
                heights = [result["datasets"][n]["paper"][metric] for n in names]
                errors = None
            else:
                summaries = [result["datasets"][n]["summary"].get(method) for n in names]
                heights = [s[f"mean_{metric}"] if s else np.nan for s in summaries]
                errors = [s[f"std_{metric}"] if s else 0 for s in summaries]
            ax.barh(
                positions + (index - 1.5) * width,
                heights,
                height=width,
                xerr=errors,
                label=method,
            )
        ax.set_xlabel(metric.upper())
        ax.set_yticks(positions, names)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_xlim(0.5, 1.0)
    axes[1].set_xlim(0.0, 1.0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize="small")
    fig.suptitle("LoSTerClustering on the paper's 10 UCR datasets")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def loster_scaling_figure(default, huge_pages, path):
    """Seconds per epoch and peak memory against length, log-log, with a linear guide."""
    plt = _figure()
    fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(10, 4))
    for result, style, label in [(default, "-o", "default"), (huge_pages, "--s", "THP")]:
        if result is None:
            continue
        lengths = [p["length"] for p in result["points"]]
        for key, phase in [
            ("seconds_per_pretrain_epoch", "pretraining"),
            ("seconds_per_joint_epoch", "joint"),
        ]:
            ax_time.loglog(lengths, [p[key] for p in result["points"]], style, label=f"{phase}, {label}")
        if result is default:
            ax_memory.loglog(lengths, [p["peak_rss_mib"] for p in result["points"]], "-o")
    lengths = np.array([p["length"] for p in default["points"]], dtype=float)
    start = default["points"][1]["seconds_per_pretrain_epoch"]
    guide = start * lengths / lengths[1]
    ax_time.loglog(lengths, guide, ":", color="grey", label="linear in length")
    ax_time.set_xlabel("series length")
    ax_time.set_ylabel("seconds per epoch (1,000 series)")
    ax_time.legend(fontsize="small")
    ax_memory.set_xlabel("series length")
    ax_memory.set_ylabel("peak RSS (MiB)")
    for ax in (ax_time, ax_memory):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("LoSTerClustering: cost against series length")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def s3vdc_accuracy_figure(results, path):
    """ACC per model (mean ± std over seeds) on each dataset, with the paper's MNIST figure."""
    plt = _figure()
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.6), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items(), strict=True):
        models = list(result["results"])
        accuracies = [[run["acc"] for run in result["results"][m]] for m in models]
        ax.bar(
            models,
            [np.mean(a) for a in accuracies],
            yerr=[np.std(a) for a in accuracies],
            color=["C0", "C1", "C2"][: len(models)],
        )
        if name == "MNIST":
            ax.axhline(S3VDC_PAPER_MNIST_ACC[0], color="k", ls="--", label="paper (GPU, full schedule)")
            ax.legend(fontsize="small", loc="lower left")
        ax.set_ylim(0, 1)
        ax.set_ylabel("clustering accuracy")
        ax.set_title(f"{name} ({result['shape'][0]:,} images)")
        ax.tick_params(axis="x", labelsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results_dir=RESULTS_DIR, output_dir="."):
    """Write every table (``.rst``) and figure (``.png``) into ``output_dir``.

    Returns the list of files written.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def emit(filename, text):
        (output_dir / filename).write_text(text, encoding="utf-8")
        written.append(output_dir / filename)

    mnist = _load(results_dir, "s3vdc-mnist-cpu.json")
    digits = _load(results_dir, "s3vdc-digits-cpu.json")
    emit(
        "s3vdc_mnist.rst",
        s3vdc_table(mnist, S3VDC_PAPER_MNIST_ACC) if mnist else _missing("s3vdc-mnist-cpu.json"),
    )
    emit("s3vdc_digits.rst", s3vdc_table(digits) if digits else _missing("s3vdc-digits-cpu.json"))
    sets = _load(results_dir, "s3vdc-sets-cpu.json")
    emit("s3vdc_sets.rst", s3vdc_sets_table(sets) if sets else _missing("s3vdc-sets-cpu.json"))
    mnist_defaults = _load(results_dir, "s3vdc-mnist-defaults-cpu.json")
    emit("s3vdc_mnist_defaults.rst",
         s3vdc_sets_table(mnist_defaults) if mnist_defaults else _missing("s3vdc-mnist-defaults-cpu.json"))
    s3vdc_results = {name: r for name, r in [("MNIST", mnist), ("load_digits", digits)] if r}
    if s3vdc_results:
        emit("s3vdc_cost.rst", s3vdc_cost_table(s3vdc_results))
        s3vdc_accuracy_figure(s3vdc_results, output_dir / "s3vdc_accuracy.png")
        written.append(output_dir / "s3vdc_accuracy.png")
    else:
        emit("s3vdc_cost.rst", _missing("s3vdc-mnist-cpu.json"))

    # The merged table of runs split over processes (bench_loster.py table), else a single run.
    ucr = _load(results_dir, "loster-ucr-merged-cpu.json") or _load(results_dir, "loster-ucr-cpu.json")
    emit("loster_ucr.rst", loster_ucr_table(ucr) if ucr else _missing("loster-ucr-cpu.json"))
    if ucr:
        loster_ucr_figure(ucr, output_dir / "loster_ucr.png")
        written.append(output_dir / "loster_ucr.png")

    extensions = _load(results_dir, "loster-extensions-cpu.json")
    emit(
        "loster_extensions.rst",
        loster_extensions_table(extensions)
        if extensions
        else _missing("loster-extensions-cpu.json"),
    )
    budget = _load(results_dir, "loster-budget-cpu.json")
    emit(
        "loster_budget.rst",
        loster_budget_table(budget) if budget else _missing("loster-budget-cpu.json"),
    )
    scaling = _load(results_dir, "loster-scaling-cpu.json")
    scaling_thp = _load(results_dir, "loster-scaling-thp-cpu.json")
    emit(
        "loster_scaling.rst",
        loster_scaling_table(scaling, scaling_thp)
        if scaling
        else _missing("loster-scaling-cpu.json"),
    )
    if scaling:
        loster_scaling_figure(scaling, scaling_thp, output_dir / "loster_scaling.png")
        written.append(output_dir / "loster_scaling.png")
    memory = _load(results_dir, "memory-cpu.json")
    emit("memory.rst", memory_table(memory) if memory else _missing("memory-cpu.json"))
    ddp = _load(results_dir, "ddp-cpu.json")
    emit("ddp_speedup.rst", ddp_speedup_table(ddp) if ddp and "speedup" in ddp else _missing("ddp-cpu.json"))
    emit("ddp_paper_scale.rst",
         ddp_paper_scale_table(ddp) if ddp and "paper_scale" in ddp else _missing("ddp-cpu.json"))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS_DIR), help="folder of *.json results")
    parser.add_argument("--output", default="benchmark-report", help="folder to write into")
    args = parser.parse_args(argv)
    for path in write_report(args.results, args.output):
        print(path)


if __name__ == "__main__":
    main()
