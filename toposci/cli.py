"""Command line: ``toposci summarize | train | sample | encode | export-encoder``.

Run ``toposci <command> --help`` for the options.
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

    def shard(text: str) -> tuple[int, int]:
        try:
            i, n = (int(t) for t in text.split("/"))
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected I/N such as 0/4, got {text!r}") from err
        return i, n

    p.add_argument("--shard", type=shard, metavar="I/N",
                   help="compute only shard I of N (0 <= I < N: chunks c with c %% N == I) into "
                        "--out, to be combined with --merge; run N of them, e.g. on N machines")
    p.add_argument("--merge", nargs="+", metavar="SHARD",
                   help="combine the N shard files of a run (same source and options) into the "
                        "outputs of a single run; computes no diagrams")


def _run_summarize(args: argparse.Namespace) -> int:
    from toposci.summary.run import summarize

    report = summarize(
        args.source, args.out, filtration=args.filtration, homology_dims=args.dims,
        workers=args.workers, limit=args.limit, seed=args.seed, chunk_size=args.chunk_size,
        fmt=args.fmt, plot_dir=args.plot, resume=args.resume, force=args.force,
        num_landscapes=args.landscapes, resolution=args.resolution,
        dataset_subsample=args.dataset_subsample, progress=not args.quiet, shard=args.shard,
        merge=args.merge,
    )
    if args.shard is not None:
        print(f"shard {args.shard[0]}/{args.shard[1]}: {report.n_samples} samples in "
              f"{report.seconds:.1f} s ({report.n_failed} failed); wrote {report.outputs[0]}; "
              "combine all shards with --merge")
        return 0
    print(f"summarized {report.n_samples - report.n_failed} of {report.n_samples} samples in "
          f"{report.seconds:.1f} s ({report.n_failed} failed, reasons in the JSON report)")
    for d, s in report.summaries.items():
        print(f"  H{d}: {s.finite_counts.mean():.2f} finite and "
              f"{s.essential_counts.mean():.2f} essential features per sample")
    for path in report.outputs:
        print(f"  wrote {path}")
    return 0


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model from a recipe",
        description="Train the TopoVAE of a recipe (recipes/*.yaml). Writes config.yaml, "
                    "checkpoint.pt (every epoch) and metrics.csv into the run directory.",
    )
    p.add_argument("recipe", help="recipe YAML file, e.g. recipes/qm9_demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set model.gamma=0.5 (repeatable)")
    p.add_argument("--out", "-o", help="run directory (default: runs/<recipe name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the recipe's, 'auto')")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _run_train(args: argparse.Namespace) -> int:
    from toposci.training.config import load_recipe
    from toposci.training.trainer import train

    recipe = load_recipe(args.recipe, args.overrides)
    run_dir = args.out or f"runs/{recipe.name}"
    result = train(recipe, run_dir, resume=args.resume, progress=not args.quiet,
                   device=args.device)
    last = result.history[-1]
    print(f"trained {recipe.name} on {result.device} for {int(last['epoch'])} epochs: "
          f"validation loss {last['val_loss']:.4f} (reconstruction "
          f"{last['val_reconstruction']:.4f}, KL {last['val_kl']:.4f}, topological "
          f"{last['val_topo']:.4f})")
    print(f"  wrote {result.run_dir}/ (config.yaml, checkpoint.pt, metrics.csv)")
    return 0


def _sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="draw samples from a trained run",
        description="Decode codes drawn from the prior of a trained run, check each sample's "
                    "validity and write them (molecules: .smi; other domains: .npz) with a "
                    "JSON report beside them.",
    )
    p.add_argument("run_dir", help="a directory made by `toposci train`")
    p.add_argument("-n", type=int, default=None, help="number of samples (default: recipe's)")
    p.add_argument("--out", "-o", required=True, help="output file, e.g. samples.smi")
    p.add_argument("--temperature", type=float, help="prior scale (default: the recipe's)")
    p.add_argument("--correction", help="decoding: none (raw output, the default) or a "
                                        "domain's correction, e.g. valence for molecules")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run_sample(args: argparse.Namespace) -> int:
    from toposci.training.sampling import sample_run
    from toposci.training.trainer import load_run

    n = args.n if args.n is not None else load_run(args.run_dir)[0].sample.n
    report = sample_run(args.run_dir, n, args.out, temperature=args.temperature,
                        correction=args.correction, seed=args.seed, device=args.device,
                        progress=not args.quiet)
    print(f"sampled {report.n} (temperature {report.temperature}, correction "
          f"{report.correction!r}): {100 * report.valid_fraction:.1f}% valid")
    failures = {k: v for k, v in report.reasons.items() if k != "ok"}
    if failures:
        print("  invalid: " + ", ".join(f"{k} {v}" for k, v in sorted(failures.items())))
    for key, value in report.metrics.items():
        print(f"  {key}: {value}")
    for path in report.files:
        print(f"  wrote {path}")
    return 0


def _encode_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode", help="embed the molecules of a file with a trained encoder",
        description="Embed every molecule of a .csv/.smi/.sdf file (optionally .gz) as the "
                    "posterior mean of a trained molecule encoder. Records that cannot be "
                    "encoded (invalid SMILES, elements or sizes the encoder was not trained on, "
                    "several fragments) are listed with their reasons in <out stem>"
                    "_failures.csv.",
    )
    p.add_argument("source", help="molecule file: .csv (a smiles column), .smi, .sdf")
    p.add_argument("--out", "-o", required=True,
                   help="embeddings file: .npy (row ids in <stem>_ids.txt beside it), .csv or "
                        ".parquet (columns id, smiles, topomol0 ...)")
    p.add_argument("--model", "-m", default="qm9",
                   help="a shipped encoder name (qm9, the default), an encoder file made by "
                        "`toposci export-encoder`, or a training run directory")
    p.add_argument("--errors", choices=("skip", "nan", "raise"), default="skip",
                   help="a record that cannot be encoded: no row (skip, the default), a row of "
                        "NaN (nan), or stop with an error (raise)")
    p.add_argument("--batch-size", type=int, default=256, help="molecules per forward pass")
    p.add_argument("--smiles-column", default="smiles", help="CSV column of the SMILES")
    p.add_argument("--id-column", help="CSV column of the ids (default: the line number)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run_encode(args: argparse.Namespace) -> int:
    from collections import Counter

    from toposci.encoders.encode_file import encode_file

    report = encode_file(args.source, args.out, model=args.model, errors=args.errors,
                         batch_size=args.batch_size, smiles_column=args.smiles_column,
                         id_column=args.id_column, device=args.device,
                         progress=not args.quiet)
    print(f"encoded {report.n_encoded} of {report.n_records} molecules in "
          f"{report.seconds:.1f} s: {report.rows} rows of {report.dim} numbers")
    reasons = Counter(f.reason for f in report.failures)
    for reason, n in reasons.most_common(5):
        print(f"  not encoded ({n}): {reason}")
    if len(reasons) > 5:
        print(f"  ... and {len(reasons) - 5} other reasons")
    for path in report.outputs:
        print(f"  wrote {path}")
    return 0


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-encoder", help="write the compact encoder file of a molecule training run",
        description="Write a training run's encoder and posterior-mean head, its featurization "
                    "options and model-card metadata (training data, config, last epoch's "
                    "losses, sampling report) into one checked file for "
                    "MoleculeEncoder.load / `toposci encode --model`, and its model card.",
    )
    p.add_argument("run_dir", help="a directory made by `toposci train` (molecule domain)")
    p.add_argument("--out", "-o", required=True, help="encoder file, e.g. encoder.pt")
    p.add_argument("--name", help="the encoder's name (default: the recipe's name)")
    p.add_argument("--sample-report", help="a `toposci sample` JSON report for the card "
                                           "(default: the newest *_report.json in RUN_DIR)")
    p.add_argument("--card", help="model card file (default: the --out file with suffix .md)")


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposci.encoders.molecule_encoder import MoleculeEncoder

    out = Path(args.out)
    card = Path(args.card) if args.card else out.with_suffix(".md")
    encoder = MoleculeEncoder.from_run(args.run_dir, name=args.name,
                                       sample_report=args.sample_report)
    encoder.save(out, card=card)
    print(f"exported {encoder!r}: {out.stat().st_size / 1024:.0f} KiB")
    for path in (out, card):
        print(f"  wrote {path}")
    return 0


_COMMANDS = {"summarize": (_summarize_parser, _run_summarize),
             "train": (_train_parser, _run_train),
             "sample": (_sample_parser, _run_sample),
             "encode": (_encode_parser, _run_encode),
             "export-encoder": (_export_parser, _run_export)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toposci", description="Topology-aware generative "
                                     "models on scientific data.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    for make_parser, _ in _COMMANDS.values():
        make_parser(sub)
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
        return _COMMANDS[args.command][1](args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"toposci {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
