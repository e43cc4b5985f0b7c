"""Command line: ``toposci summarize``.

Run ``toposci summarize --help`` for the options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _dims(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from err


def _summarize_parser(sub: argparse._SubParsersAction) -> None:
    from toposci.summary.sources import NAMED_SOURCES
    from toposci.summary.views import VIEWS

    views = "; ".join(f"{d}: {', '.join(v)}" for d, v in VIEWS.items())
    p = sub.add_parser(
        "summarize",
        help="persistence diagrams, landscapes and Betti curves of a data set",
        description="Per-sample persistence diagrams of a data set and a data-set-level summary "
                    "(mean landscapes and Betti curves with 95%% bands, feature counts, the "
                    "diagram of the data set itself seen through a descriptor).",
    )
    p.add_argument("source", help=f"a shipped sample ({', '.join(NAMED_SOURCES)}) or a file / "
                                  "folder: .csv/.smi/.sdf molecules, .pdb/.cif structures, a "
                                  "TUDataset folder, an MNIST IDX folder, a .npy image array")
    p.add_argument("--out", "-o", required=True, help="output file (suffix set by --format)")
    p.add_argument("--filtration", help=f"the filtration (default: the domain's first): {views}")
    p.add_argument("--dims", type=_dims, help="homology dimensions, e.g. 0,1 (default: all the "
                                              "filtration supports)")
    p.add_argument("--format", choices=("npz", "parquet"), default="npz", dest="fmt")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--limit", type=int, help="summarize only the first N samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the data-set-level subsample")
    p.add_argument("--chunk-size", type=int, default=512, help="samples per resumable chunk")
    p.add_argument("--landscapes", type=int, default=5, help="landscape levels K")
    p.add_argument("--resolution", type=int, default=100, help="grid size T of the curves")
    p.add_argument("--dataset-subsample", type=int, default=1000,
                   help="samples in the data-set-level descriptor diagram (default 1000)")
    p.add_argument("--plot", metavar="DIR", help="write PNG figures into DIR")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--force", action="store_true", help="recompute a finished run")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run_summarize(args: argparse.Namespace) -> int:
    from toposci.summary.run import summarize

    report = summarize(
        args.source, args.out, filtration=args.filtration, homology_dims=args.dims,
        workers=args.workers, limit=args.limit, seed=args.seed, chunk_size=args.chunk_size,
        fmt=args.fmt, plot_dir=args.plot, resume=args.resume, force=args.force,
        num_landscapes=args.landscapes, resolution=args.resolution,
        dataset_subsample=args.dataset_subsample, progress=not args.quiet,
    )
    print(f"summarized {report.n_samples - report.n_failed} of {report.n_samples} samples in "
          f"{report.seconds:.1f} s ({report.n_failed} failed, reasons in the JSON report)")
    for d, s in report.summaries.items():
        print(f"  H{d}: {s.finite_counts.mean():.2f} finite and "
              f"{s.essential_counts.mean():.2f} essential features per sample")
    for path in report.outputs:
        print(f"  wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toposci", description="Topology-aware generative "
                                     "models on scientific data.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    _summarize_parser(sub)
    args = parser.parse_args(argv)
    if args.version:
        from toposci import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run_summarize(args)
    except ValueError as err:
        print(f"toposci {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
