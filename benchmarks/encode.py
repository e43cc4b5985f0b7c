"""The molecule encoder against RDKit Morgan fingerprints: throughput, and ridge regression on QM9.

Usage::

    python benchmarks/encode.py [MODEL] [--source QM9.csv.gz] [--n-throughput 5000]
        [--n-train 20000] [--n-test 5000] [--rounds 3] [--threads 1]

``MODEL`` is a shipped encoder name (``qm9``, the default), an encoder file or a training run
directory. Molecules come from the QM9 csv (default: the full set in ../shared/data, else the
shipped sample): a seeded random subset of the ``gdss_split`` train molecules for fitting, of
the test molecules for scoring (the encoder never trained on those).

Prints:

* **throughput** — wall time (median of ``--rounds``, the two run round-robin) of
  ``MoleculeEncoder.encode`` on ``--n-throughput`` SMILES and of RDKit Morgan fingerprints
  (radius 2, 2048 bits, as a numpy array) of the same SMILES, parsing included in both;
  ``speedup = Morgan time / encoder time`` (below 1: the encoder is slower).
* **downstream** — test R² of the same model (``StandardScaler`` + ``RidgeCV``, alphas
  1e-3 ... 1e3) fitted on the embedding and on the Morgan bits, for QM9's HOMO energy (the
  csv's column, Hartree) and two properties RDKit computes (Crippen logP, TPSA), with the ratio
  ``R²(embedding) / R²(Morgan)``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _timing import interleaved_medians, report
from rdkit import Chem
from rdkit.Chem import Crippen, rdFingerprintGenerator, rdMolDescriptors
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from toposci.encoders import MoleculeEncoder

REPO = Path(__file__).resolve().parents[1]
FULL_QM9 = REPO.parent / "shared" / "data" / "qm9" / "qm9_smiles.csv.gz"
SHIPPED_QM9 = REPO / "datasets" / "qm9" / "qm9_sample.csv"
TARGETS: dict[str, Callable[[Chem.Mol], float] | None] = {
    "HOMO (Hartree)": None,  # the csv's column
    "logP (Crippen)": Crippen.MolLogP,
    "TPSA": rdMolDescriptors.CalcTPSA,
}


def morgan(smiles: list[str], n_bits: int = 2048) -> np.ndarray:
    """``(N, n_bits)`` uint8 Morgan (radius 2) bits, parsing each SMILES."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    return np.stack([gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles])


def r2(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
       ) -> float:
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(x_train, y_train)
    return float(r2_score(y_test, model.predict(x_test)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="qm9",
                        help="encoder name, encoder file or training run directory")
    parser.add_argument("--source", type=Path, default=None, help="QM9 csv (index, smiles, "
                        "homo, gdss_split); default the full set, else the shipped sample")
    parser.add_argument("--n-throughput", type=int, default=5000)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = args.source or (FULL_QM9 if FULL_QM9.is_file() else SHIPPED_QM9)
    table = pd.read_csv(source)
    rng = np.random.default_rng(args.seed)
    train = table[table["gdss_split"] == "train"]
    test = table[table["gdss_split"] == "test"]
    train = train.iloc[rng.permutation(len(train))[:args.n_train]]
    test = test.iloc[rng.permutation(len(test))[:args.n_test]]

    t0 = time.perf_counter()
    encoder = MoleculeEncoder.load(args.model)
    print(f"{encoder!r} from {args.model} (loaded in {time.perf_counter() - t0:.1f} s); "
          f"molecules from {source.name}; torch threads {args.threads}")

    # ---------------------------------------------------------------- throughput
    pool = pd.concat([train, test])["smiles"].tolist()
    smiles = [pool[i] for i in rng.permutation(len(pool))[:args.n_throughput]]
    times = interleaved_medians({
        "encoder": lambda: encoder.encode(smiles, batch_size=args.batch_size),
        "morgan": lambda: morgan(smiles),
    }, rounds=args.rounds)
    n = len(smiles)
    report("encode", f"MoleculeEncoder.encode, {n} SMILES ({n / times['encoder']:.0f} mol/s)",
           times["encoder"],
           {f"RDKit Morgan r=2 2048 bits ({n / times['morgan']:.0f} mol/s)": times["morgan"]})

    # ---------------------------------------------------------------- downstream
    t0 = time.perf_counter()
    features = {}
    for name, part in (("train", train), ("test", test)):
        s = part["smiles"].tolist()
        features[name] = {"embedding": encoder.encode(s, batch_size=args.batch_size),
                          "morgan": morgan(s).astype(np.float32)}
    print(f"downstream: {len(train)} train / {len(test)} test molecules (gdss split), "
          f"features in {time.perf_counter() - t0:.1f} s; StandardScaler + RidgeCV, test R²")
    for target, fn in TARGETS.items():
        if fn is None:
            y = {"train": train["homo"].to_numpy(), "test": test["homo"].to_numpy()}
        else:
            y = {name: np.array([fn(Chem.MolFromSmiles(s)) for s in part["smiles"]])
                 for name, part in (("train", train), ("test", test))}
        scores = {kind: r2(features["train"][kind], y["train"], features["test"][kind],
                           y["test"]) for kind in ("embedding", "morgan")}
        print(f"  {target:<16} embedding ({encoder.dim:4d} dims) R² {scores['embedding']:7.4f}   "
              f"Morgan (2048 bits) R² {scores['morgan']:7.4f}   ratio "
              f"{scores['embedding'] / scores['morgan']:6.2f}")


if __name__ == "__main__":
    main()
