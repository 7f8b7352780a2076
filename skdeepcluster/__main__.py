"""Command line: ``python -m skdeepcluster demo`` and ``python -m skdeepcluster --version``."""

import argparse
import sys


def main(argv=None):
    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m skdeepcluster", description=__doc__)
    parser.add_argument("--version", action="version", version=f"skdeepcluster {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="S3VDC on load_digits and LoSTer on tslearn's Trace, beside "
                                            "KMeans, GaussianMixture and KShape")
    demo.add_argument("--seed", type=int, default=0, help="the first seed (default: 0)")
    demo.add_argument("--seeds", type=int, default=3, metavar="N",
                      help="fit every model with N seeds and show mean +- std (default: 3); the pictures "
                           "show the first seed")
    demo.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    demo.add_argument("--quick", action="store_true", help="a few epochs only (for smoke tests)")
    demo.add_argument("--no-plot", action="store_true", help="do not write the pictures")
    demo.add_argument("--output-dir", default="skdeepcluster_demo",
                      help="folder of the pictures s3vdc_digits.png and loster_trace.png, created when missing "
                           "(default: skdeepcluster_demo)")
    demo.add_argument("--datasets", nargs="+", choices=("digits", "trace"), default=("digits", "trace"),
                      help="which demos to run (default: both)")
    demo.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    from ._demo import main as run_demo

    run_demo(seed=args.seed, quick=args.quick, device=args.device, plot=not args.no_plot,
             output_dir=args.output_dir, verbose=args.verbose, datasets=args.datasets,
             n_seeds=args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
