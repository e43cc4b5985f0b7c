"""Featurizing the full QM9 into the processed cache: build time, load time, memory, round trip.

Usage: ``python benchmarks/qm9_featurize.py [--source QM9.csv.gz] [--workers 2] [--keep DIR]``.

Prints:

* build: wall time of the first ``QM9(source)`` (reading, featurizing, writing the cache) into a
  fresh cache root, and the peak resident memory of this process and of its worker processes;
* load: wall time of ``QM9(source, split=...)`` once the cache exists (sha256 of the source,
  ``torch.load``, split selection, one-hot features);
* split sizes (standard GDSS reading of the MoFlow/GDSS index: 120,803 / 13,082 expected);
* round trip: every molecule's cached graph decoded back with ``decode_data`` (in forked worker
  processes) and compared with RDKit's canonical SMILES (no stereo) of the csv's own SMILES,
  computed here independently; every failure is printed.

Wall times depend on what else runs on the machine; the CPU seconds of the build (this process
plus its workers) do not.

Targets on a 2-core machine: build < 60 s, load < 3 s, 0 round-trip failures.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rdkit import Chem, rdBase

from toposci.domains.molecules import decode_data
from toposci.domains.qm9 import QM9

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "qm9" / "qm9_smiles.csv.gz"


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mib() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child."""
    to_mib = 1 / 1024  # ru_maxrss is in KiB on Linux
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * to_mib,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * to_mib)


def reference_smiles(source: Path) -> dict[int, str]:
    """QM9 row index -> RDKit canonical SMILES (no stereo) of the csv's SMILES."""
    with gzip.open(source, "rt", newline="") if source.suffix == ".gz" else open(
            source, newline="") as f:
        return {int(r["index"]): Chem.MolToSmiles(Chem.MolFromSmiles(r["smiles"]),
                                                  isomericSmiles=False)
                for r in csv.DictReader(f)}


_STATE: dict[str, object] = {}  # the data set and reference, inherited by forked workers


def round_trip_failures(bounds: tuple[int, int]) -> list[tuple[int, str, str | None, str]]:
    """Decode graphs ``bounds[0]:bounds[1]`` of the data set; the ones that do not come back."""
    full, reference = _STATE["full"], _STATE["reference"]
    failures = []
    with rdBase.BlockLogs():
        for i in range(*bounds):
            data = full[i]
            decoded = decode_data(data)
            expected = reference[int(data.idx)]
            if not decoded.validity or decoded.smiles != expected:
                failures.append((int(data.idx), expected, decoded.smiles,
                                 decoded.validity.reason))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--keep", type=Path, default=None,
                        help="cache root to build into and keep (default: a temporary folder)")
    args = parser.parse_args()
    if not args.source.is_file():
        raise SystemExit(f"no QM9 csv at {args.source}; pass --source")
    root = args.keep or Path(tempfile.mkdtemp(prefix="toposci-qm9-bench-"))
    if args.keep and (root / "processed").exists():
        shutil.rmtree(root / "processed")  # a fresh build is what we time
    try:
        t0, c0 = time.perf_counter(), cpu_seconds()
        full = QM9(args.source, cache_root=root, num_workers=args.workers)
        build, build_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        own, child = peak_mib()
        cache_files = list((root / "processed").glob("*.pt"))
        size = sum(p.stat().st_size for p in cache_files) / 2**20
        print(f"build  {len(full):7d} molecules  {build:7.2f} s wall  {build_cpu:6.1f} s CPU   "
              f"peak RSS {own:.0f} MiB "
              f"(largest worker {child:.0f} MiB)   cache {size:.1f} MiB   "
              f"skipped {len(full.skipped)}")
        for split in ("all", "train", "test"):
            t0 = time.perf_counter()
            ds = QM9(args.source, split=split, cache_root=root)
            print(f"load   {split:<5} {len(ds):7d} molecules  {time.perf_counter() - t0:7.2f} s")

        t0 = time.perf_counter()
        _STATE.update(full=full, reference=reference_smiles(args.source))
        step = 10_000
        ranges = [(i, min(i + step, len(full))) for i in range(0, len(full), step)]
        with ProcessPoolExecutor(args.workers or os.cpu_count(),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            failures = [f for part in pool.map(round_trip_failures, ranges) for f in part]
        print(f"round trip  {len(full) - len(failures)}/{len(full)} identical canonical SMILES, "
              f"{len(failures)} failures  ({time.perf_counter() - t0:.1f} s)")
        for idx, expected, got, reason in failures:
            print(f"  idx {idx}: expected {expected}, got {got} ({reason})")
        own, child = peak_mib()
        print(f"peak RSS over the whole run {own:.0f} MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
