"""Command line: ``toposci summarize | train | sample | evaluate | experiment | encode |
export-encoder``.

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
    p.add_argument("--chunk-size", type=int, help="samples per resumable chunk (default: the "
                                                  "filtration's, 512 or 8 protein structures)")
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
        description="Train the model of a recipe (recipes/*.yaml; model.kind: a TopoVAE, a "
                    "diffusion model, or a latent diffusion model over a trained TopoVAE). "
                    "Writes config.yaml, checkpoint.pt (every epoch) and metrics.csv into the "
                    "run directory.",
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
    if result.rank != 0:
        return 0  # under torchrun, process 0 reports
    last = result.history[-1]
    terms = (f"reconstruction {last['val_reconstruction']:.4f}, KL {last['val_kl']:.4f}"
             if recipe.model.kind == "vae" else
             f"noise prediction {last['val_reconstruction']:.4f}")
    print(f"trained {recipe.name} on {result.device} for {int(last['epoch'])} epochs: "
          f"validation loss {last['val_loss']:.4f} ({terms}, topological "
          f"{last['val_topo']:.4f})")
    print(f"  wrote {result.run_dir}/ (config.yaml, checkpoint.pt, metrics.csv)")
    return 0


def _sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="draw samples from a trained run",
        description="Draw samples from a trained run (a TopoVAE decodes codes drawn from its "
                    "prior; a diffusion model runs its sampler from noise, a latent one then "
                    "decodes with its TopoVAE), check each sample's validity and write them "
                    "(molecules: .smi; other domains: .npz) with a JSON report beside them.",
    )
    p.add_argument("run_dir", help="a directory made by `toposci train`")
    p.add_argument("-n", type=int, default=None, help="number of samples (default: recipe's)")
    p.add_argument("--out", "-o", required=True, help="output file, e.g. samples.smi")
    p.add_argument("--temperature", type=float, help="prior scale (default: the recipe's; a "
                                                      "diffusion model takes 1 only)")
    p.add_argument("--correction", help="decoding: none (raw output, the default) or a "
                                        "domain's correction, e.g. valence for molecules")
    p.add_argument("--sampler", help="diffusion models: ddim (few "
                                                        "deterministic steps) or ddpm (ancestral, "
                                                        "all T steps); default: the recipe's")
    p.add_argument("--steps", type=int, help="diffusion models: DDIM steps (default: the "
                                             "recipe's sample_steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run_sample(args: argparse.Namespace) -> int:
    from toposci.training.sampling import sample_run
    from toposci.training.trainer import load_run

    n = args.n if args.n is not None else load_run(args.run_dir)[0].sample.n
    report = sample_run(args.run_dir, n, args.out, temperature=args.temperature,
                        correction=args.correction, sampler=args.sampler, steps=args.steps,
                        seed=args.seed, device=args.device, progress=not args.quiet)
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


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    from toposci.evaluation.options import SECTIONS, EvaluationOptions

    defaults = EvaluationOptions()
    p = sub.add_parser(
        "evaluate", help="evaluate trained runs and write a Markdown report with figures",
        description="Compute every metric that applies to each run (generation quality, "
                    "topology fidelity, interpolation, OOD detection, latent PGD robustness) "
                    "into RUN_DIR/evaluation/ (sections already computed with the same "
                    "options and checkpoint are skipped), then write REPORT_DIR/report.md with "
                    "tables, PNG figures, metric-vs-gamma curves and the claim checks.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run directories made by `toposci train`, or experiment manifests "
                        "(OUT/<name>.json written by `toposci experiment`) for all their runs")
    p.add_argument("--out", "-o", required=True, help="report folder (report.md, figures/)")
    p.add_argument("--samples", type=int, default=defaults.samples,
                   help=f"prior samples per run (default {defaults.samples})")
    p.add_argument("--fcd-samples", type=int, default=defaults.fcd_samples,
                   help=f"molecules in the FCD (default {defaults.fcd_samples})")
    p.add_argument("--no-fcd", action="store_true", help="skip the FCD of molecule runs")
    p.add_argument("--pairs", type=int, default=defaults.interpolation_pairs,
                   help="interpolation pairs (default %(default)s)")
    p.add_argument("--ood-samples", type=int, default=defaults.ood_samples,
                   help="samples per OOD set (default %(default)s)")
    p.add_argument("--attack-codes", type=int, default=defaults.attack_codes,
                   help="codes attacked by PGD (default %(default)s)")
    p.add_argument("--epsilon", type=float, default=defaults.attack_epsilon,
                   help="PGD radius in latent units (default %(default)s)")
    p.add_argument("--sections", type=lambda t: tuple(x for x in t.split(",") if x),
                   default=SECTIONS, help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="recompute finished sections")
    p.add_argument("--report-only", action="store_true",
                   help="compute nothing; report the stored evaluations")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _expand_runs(items: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Run directories and the experiment manifests among ``items`` (manifests expanded)."""
    from pathlib import Path

    from toposci.evaluation.experiment import load_manifest

    runs, manifests = [], []
    for item in items:
        if item.endswith(".json"):
            manifest = load_manifest(item)
            manifests.append(manifest)
            runs += [r for entry in manifest["arms"].values() for r in entry["runs"].values()
                     if (Path(r) / "checkpoint.pt").is_file()]
        else:
            runs.append(item)
    return list(dict.fromkeys(runs)), manifests


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from toposci.evaluation.evaluate import evaluate_runs, load_evaluation
    from toposci.evaluation.options import EvaluationOptions
    from toposci.evaluation.report import write_report

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    runs, manifests = _expand_runs(args.runs)
    if args.report_only:
        evaluations = [load_evaluation(r) for r in runs]
    else:
        options = EvaluationOptions(
            samples=args.samples, fcd=not args.no_fcd, fcd_samples=args.fcd_samples,
            interpolation_pairs=args.pairs, ood_samples=args.ood_samples,
            attack_codes=args.attack_codes, attack_epsilon=args.epsilon, seed=args.seed,
            sections=args.sections)
        evaluations = evaluate_runs(runs, options, force=args.force, device=args.device,
                                    progress=not args.quiet)
    for ev in evaluations:
        reasons = ev.skipped()
        done = ", ".join(s for s in ev.computed if s not in reasons) or "nothing new"
        by_reason: dict[str, list[str]] = {}
        for section, reason in reasons.items():
            by_reason.setdefault(reason, []).append(section)
        skipped = "; ".join(f"{', '.join(sections)} ({reason})"
                            for reason, sections in by_reason.items())
        print(f"{ev.run_dir}: computed {done}" + (f"; skipped {skipped}" if skipped else ""))
    report = write_report(evaluations, Path(args.out) / "report.md", experiments=manifests)
    print(f"  wrote {report} (figures in {report.parent / 'figures'})")
    return 0


def _experiment_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment", help="train and evaluate the runs of an experiment file",
        description="Train every (arm, seed) of an experiment file (recipes/experiments/"
                    "*.yaml) into OUT/runs/, skipping finished runs and resuming interrupted "
                    "ones, evaluate each (resumable), and write the manifest OUT/<name>.json "
                    "that `toposci evaluate` and scripts/make_results.py read.",
    )
    p.add_argument("experiment", help="experiment YAML file")
    p.add_argument("--out", "-o", default="runs/experiments",
                   help="experiments folder (default runs/experiments)")
    p.add_argument("--no-evaluate", action="store_true", help="train only")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs and their status; train nothing")
    p.add_argument("--device", help="training device (default: each recipe's)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _run_experiment(args: argparse.Namespace) -> int:
    from toposci.evaluation.experiment import run_experiment

    result = run_experiment(args.experiment, args.out, evaluate=not args.no_evaluate,
                            dry_run=args.dry_run, device=args.device, progress=not args.quiet)
    for run in result["runs"]:
        print(f"{run['arm']:>24} seed {run['seed']}: {run['status']:>11} -> {run['action']:<8}"
              f" {run['run_dir']}")
    if result["manifest"]:
        print(f"  wrote {result['manifest']}")
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
             "evaluate": (_evaluate_parser, _run_evaluate),
             "experiment": (_experiment_parser, _run_experiment),
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
