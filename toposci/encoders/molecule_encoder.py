"""`MoleculeEncoder`: SMILES strings or RDKit molecules -> latent vectors of a trained TopoVAE.

The embedding of a molecule ``x`` is the **posterior mean** ``μ(x)`` of the model's variational
encoder ``q(z | x)``: the GINE graph encoder's features through the ``to_mean`` layer of
:class:`~toposci.models.TopoVAE`. No noise is drawn, so the same molecule always gets the same
vector.

Molecules are featurized exactly as in training: each input is checked and written as RDKit's
canonical SMILES (:func:`~toposci.encoders._inputs.canonical_smiles`), the form in which the
molecule domain stores its training molecules, then goes through the domain's own
:func:`~toposci.domains.generative.molecules.canonical_table` and ``collate``, with the domain and
the network rebuilt from the training recipe stored in the encoder file. The checks:

* **Hydrogens** given explicitly (``[H]``, ``Chem.AddHs``, SDF files) are removed with
  ``Chem.RemoveHs``; the domain's graphs are heavy-atom graphs with hydrogen counts as atom
  features.
* **Canonical order.** The domain reads each molecule from its canonical SMILES, so atom order
  and Kekulé structure (aromatic rings are kekulized), hence the vector, do not depend on how
  the input was written. **Formal charges** are an atom feature, as in training.
  **Stereochemistry and isotopes** are not represented: ``C[C@H](O)F``, ``C[C@@H](O)F`` and
  ``CC(O)F`` get one vector.
* **Outside the training domain** — an element other than those trained on (C, N, O, F for
  QM9), more heavy atoms than ``max_atoms``, several fragments (salts, mixtures), a bond the
  domain does not featurize (dative) — and invalid, empty or non-molecule inputs are failures
  with a reason, handled by ``errors``:
  ``"raise"`` (a ValueError naming each failing input of the batch), ``"nan"`` (a row of NaN),
  ``"skip"`` (no row; :meth:`MoleculeEncoder.encode_detailed` says which inputs the rows are).
  A vector is never computed for such an input.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from tqdm.auto import tqdm

from toposci.domains.base import get_domain, move_to
from toposci.domains.generative._graph_table import GraphTable
from toposci.domains.generative.molecules import CANONICAL_VERSION, MoleculeDomain, canonical_table
from toposci.domains.molecules import ATOM_TYPES, BOND_TYPES, FEATURIZER_VERSION, NODE_FEATURES
from toposci.encoders._inputs import UnsupportedMolecule, canonical_smiles, describe
from toposci.encoders.card import card_from_run, render_model_card
from toposci.encoders.format import read_encoder_file, write_encoder_file
from toposci.training.config import Recipe, recipe_from_dict

__all__ = ["ERRORS", "PRETRAINED", "EncodeFailure", "Encoded", "MoleculeEncoder",
           "pretrained_path"]

logger = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
PRETRAINED: tuple[str, ...] = ("qm9",)
"""Names :meth:`MoleculeEncoder.load` resolves to ``toposci/pretrained/<name>.pt``."""
ERRORS: tuple[str, ...] = ("raise", "nan", "skip")
#: The version of the domain's featurization of training molecules, as its cache records it.
FEATURIZER = f"{FEATURIZER_VERSION}/{CANONICAL_VERSION}"
_SHOWN_FAILURES = 10  # failures spelled out in an error message


@dataclass(frozen=True)
class EncodeFailure:
    """An input that was not encoded.

    Attributes:
        index: its position in the inputs.
        input: a short printable form (the SMILES text, a Mol's SMILES, or its type).
        reason: why, e.g. ``"unsupported element S: the encoder was trained on C, N, O, F
            only"``.
    """

    index: int
    input: str
    reason: str


@dataclass(frozen=True)
class Encoded:
    """Embeddings of a list of inputs, with the inputs that failed.

    Attributes:
        embeddings: ``(R, d)`` float32; ``R = N`` with ``errors="nan"`` (failed rows NaN),
            the number of encoded inputs with ``errors="skip"``.
        index: ``(R,)`` position in the inputs of each row.
        smiles: ``R`` canonical SMILES (no stereo) of the molecules encoded, None for NaN rows.
        failures: the inputs not encoded, in input order.
    """

    embeddings: np.ndarray
    index: np.ndarray
    smiles: list[str | None]
    failures: list[EncodeFailure] = field(default_factory=list)


class _PosteriorMean(nn.Module):
    """``to_mean(encoder(batch))``: the mean half of :meth:`TopoVAE.posterior`; parameter
    names as in :class:`~toposci.models.TopoVAE` (``encoder.*``, ``to_mean.*``)."""

    def __init__(self, encoder: nn.Module, to_mean: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.to_mean = to_mean

    def forward(self, batch: Batch) -> Tensor:
        return self.to_mean(self.encoder(batch))  # (B, d)


def pretrained_path(name: str) -> Path:
    """The file of a pretrained encoder shipped with the package.

    Raises:
        ValueError: an unknown name.
        FileNotFoundError: the file is not installed.
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained encoder {name!r}; shipped: {', '.join(PRETRAINED)}")
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the pretrained encoder {name!r} is not installed: {path} is missing. Reinstall "
            "toposci, or make it: train recipes/qm9_topovae.yaml and run `toposci export-encoder "
            f"RUN_DIR -o {path} --name {name}`")
    return path


def _check_vocabulary(payload: dict[str, Any], where: str) -> None:
    """The file's featurizer must be the one this toposci runs."""
    installed = {"featurizer": FEATURIZER, "atom_types": list(ATOM_TYPES),
                 "bond_types": list(BOND_TYPES), "node_features": list(NODE_FEATURES)}
    for key, value in installed.items():
        if payload.get(key) != value:
            raise ValueError(
                f"{where} was made for molecule featurization {key} = {payload.get(key)!r}, but "
                f"this toposci's is {value!r}; its vectors would be meaningless here. Re-export "
                "the encoder from a run trained with this version")


def _molecule_domain(recipe: Recipe, where: str) -> MoleculeDomain:
    domain = get_domain(recipe.domain)(recipe.data)
    if not isinstance(domain, MoleculeDomain):
        raise ValueError(f"{where} was trained on the {recipe.domain!r} domain; MoleculeEncoder "
                         "encodes molecules only")
    return domain


def as_molecule_list(molecules: Iterable[Any]) -> list[Any]:
    """``molecules`` as a non-empty list, or a ValueError saying what was passed instead."""
    if isinstance(molecules, str | bytes):
        raise ValueError("molecules must be a sequence of SMILES strings or RDKit Mols, not one "
                         f"string; wrap it in a list: [{molecules!r}]")
    try:
        items = list(molecules)
    except TypeError as err:
        raise ValueError(f"molecules must be a sequence of SMILES strings or RDKit Mols, got "
                         f"{type(molecules).__name__}") from err
    if not items:
        raise ValueError("molecules is empty: there is nothing to encode")
    return items


def _failure_message(failures: Sequence[EncodeFailure], checked: int, total: int) -> str:
    shown = "; ".join(f"[{f.index}] {f.input!r}: {f.reason}" for f in failures[:_SHOWN_FAILURES])
    more = len(failures) - _SHOWN_FAILURES
    return (f"{len(failures)} of the first {checked} of {total} molecules cannot be encoded: "
            f"{shown}{f'; and {more} more' if more > 0 else ''}. Pass errors='nan' or "
            "errors='skip' to encode the others")


class MoleculeEncoder:
    """A trained molecule encoder: inputs -> posterior means ``μ(x)`` (see the module docstring).

    Make one with :meth:`load` (an encoder file, a shipped name such as ``"qm9"``, or a run
    directory) or :meth:`from_run`; write the compact file with :meth:`save`.

    Args:
        network: the encoder and posterior-mean head.
        domain: the molecule domain built from the training recipe (featurizes and collates).
        recipe: the training recipe.
        name: a name for reports and the model card.
        card: model-card metadata (see :func:`~toposci.encoders.card.card_from_run`).

    Example:
        >>> from toposci import MoleculeEncoder
        >>> encoder = MoleculeEncoder.load("qm9")
        >>> z = encoder.encode(["CCO", "c1ccccc1"])  # (2, d)  # doctest: +SKIP
    """

    def __init__(self, network: nn.Module, domain: MoleculeDomain, recipe: Recipe, *,
                 name: str, card: dict[str, Any]) -> None:
        self.network = network
        self.domain = domain
        self.recipe = recipe
        self.name = name
        self.card = card

    # ------------------------------------------------------------------ making one
    @classmethod
    def load(cls, path_or_name: str | Path, *, device: str | torch.device = "cpu"
             ) -> MoleculeEncoder:
        """An encoder from a file written by :meth:`save`, a shipped name (:data:`PRETRAINED`:
        ``toposci/pretrained/<name>.pt``) or a training run directory (:meth:`from_run`).

        Raises:
            FileNotFoundError: no such file, or the named pretrained file is not installed.
            ValueError: not an encoder file, a failed integrity check, another file format
                version or featurizer version, or weights that do not fit the stored config.
        """
        if isinstance(path_or_name, str) and path_or_name in PRETRAINED:
            path = pretrained_path(path_or_name)
        else:
            path = Path(path_or_name)
            if path.is_dir():
                return cls.from_run(path, device=device)
            if not path.exists():
                raise FileNotFoundError(f"no encoder file or run directory {path} (shipped "
                                        f"encoders: {', '.join(PRETRAINED)})")
        payload = read_encoder_file(path)
        where = str(path)
        _check_vocabulary(payload, where)
        recipe = recipe_from_dict(payload["recipe"], where=f"{where}: recipe")
        domain = _molecule_domain(recipe, where)
        if payload["max_atoms"] != recipe.data.max_atoms:
            raise ValueError(f"{where}: max_atoms {payload['max_atoms']} differs from the "
                             f"recipe's {recipe.data.max_atoms}")
        encoder = domain.make_encoder(recipe.model.encoder)
        network = _PosteriorMean(encoder, nn.Linear(encoder.out_features,
                                                    recipe.model.latent_dim))
        try:
            network.load_state_dict(payload["state_dict"])
        except RuntimeError as err:
            raise ValueError(f"{where}: the weights do not fit the network its recipe "
                             f"describes ({err})") from err
        out = cls(network.eval(), domain, recipe, name=payload["name"], card=payload["card"])
        return out.to(device)

    @classmethod
    def from_run(cls, run_dir: str | Path, *, name: str | None = None,
                 sample_report: str | Path | None = None,
                 device: str | torch.device = "cpu") -> MoleculeEncoder:
        """The encoder of a molecule training run (its latest checkpoint).

        Args:
            run_dir: a directory made by ``toposci train``.
            name: the encoder's name; default the recipe's name.
            sample_report: a ``toposci sample`` JSON report for the model card; default the
                newest ``*_report.json`` in ``run_dir``, if any.
            device: where to run.
        """
        from toposci.training.trainer import load_run

        recipe, domain, model, _ = load_run(run_dir)
        _molecule_domain(recipe, str(run_dir))
        name = recipe.name if name is None else name
        card = card_from_run(run_dir, recipe.to_dict(), name=name, sample_report=sample_report)
        network = _PosteriorMean(model.encoder, model.to_mean)
        return cls(network.eval(), domain, recipe, name=name, card=card).to(device)

    def save(self, path: str | Path, *, card: str | Path | None = None) -> Path:
        """Write the compact encoder file (see :mod:`toposci.encoders.format`).

        Args:
            path: the file, conventionally ``.pt``.
            card: also write the model card (Markdown) to this file.

        Returns:
            ``path``.
        """
        from toposci import __version__

        state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        payload = {
            "name": self.name, "toposci_version": __version__, "featurizer": FEATURIZER,
            "atom_types": list(ATOM_TYPES), "bond_types": list(BOND_TYPES),
            "node_features": list(NODE_FEATURES), "max_atoms": self.max_atoms,
            "latent_dim": self.dim, "recipe": self.recipe.to_dict(), "state_dict": state,
            "card": self.card,
        }
        digest = write_encoder_file(payload, path)
        if card is not None:
            Path(card).write_text(render_model_card(self.card, payload_sha256=digest,
                                                    atom_types=list(ATOM_TYPES),
                                                    latent_dim=self.dim))
        return Path(path)

    def to(self, device: str | torch.device) -> MoleculeEncoder:
        """Move the network to ``device``; returns ``self``."""
        self.network.to(device)
        return self

    # ------------------------------------------------------------------ facts
    @property
    def dim(self) -> int:
        """``d``, the width of an embedding."""
        return self.recipe.model.latent_dim

    @property
    def max_atoms(self) -> int:
        """The most heavy atoms of a molecule the encoder accepts (as many as in training)."""
        return self.recipe.data.max_atoms

    @property
    def atom_types(self) -> tuple[str, ...]:
        """The elements the encoder accepts."""
        return ATOM_TYPES

    def feature_names(self) -> list[str]:
        """``topomol0 ... topomol{d-1}``: names of the ``d`` embedding columns in tables."""
        return [f"topomol{i}" for i in range(self.dim)]

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, max_atoms="
                f"{self.max_atoms}, atoms={','.join(self.atom_types)})")

    # ------------------------------------------------------------------ encoding
    def encode(self, molecules: Iterable[Any], *, batch_size: int = 256, errors: str = "raise",
               progress: bool = False) -> np.ndarray:
        """Posterior means of ``N`` molecules.

        Args:
            molecules: SMILES strings and / or RDKit ``Mol`` objects.
            batch_size: molecules per forward pass.
            errors: ``"raise"``, ``"nan"`` or ``"skip"`` (see the module docstring); with
                ``"nan"`` / ``"skip"`` the failures are logged as one warning, and
                :meth:`encode_detailed` returns them.
            progress: show a progress bar.

        Returns:
            ``(N, d)`` float32 (``"skip"``: ``(R, d)``, the ``R`` molecules encoded, in order).

        Raises:
            ValueError: with ``errors="raise"``, the first batch holding inputs that cannot be
                encoded, each named with its position and reason; also an empty or string
                ``molecules``, an unknown ``errors`` or a bad ``batch_size``.
        """
        return self.encode_detailed(molecules, batch_size=batch_size, errors=errors,
                                    progress=progress).embeddings

    def encode_detailed(self, molecules: Iterable[Any], *, batch_size: int = 256,
                        errors: str = "raise", progress: bool = False) -> Encoded:
        """:meth:`encode`, also returning which inputs each row is and which failed (why).

        Returns:
            :class:`Encoded`.
        """
        from rdkit import rdBase

        if errors not in ERRORS:
            raise ValueError(f"unknown errors={errors!r}; valid: {', '.join(ERRORS)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        items = as_molecule_list(molecules)
        N = len(items)
        parts: list[np.ndarray] = []
        done: list[int] = []
        smiles: list[str] = []
        failures: list[EncodeFailure] = []
        with rdBase.BlockLogs(), torch.inference_mode():
            for start in tqdm(range(0, N, batch_size), desc=f"encoding ({self.name})",
                              disable=not progress, unit="batch"):
                stop = min(start + batch_size, N)
                table, names, positions = self._featurize(items, start, stop, failures)
                if failures and errors == "raise":
                    failures.sort(key=lambda f: f.index)
                    raise ValueError(_failure_message(failures, stop, N))
                if table is not None:
                    parts.append(self.network(self._batch(table)).float().cpu().numpy())
                    done += positions
                    smiles += names
        failures.sort(key=lambda f: f.index)
        z = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
        if failures:
            reasons = Counter(f.reason for f in failures)
            logger.warning("%d of %d molecules were not encoded (%s)", len(failures), N,
                           "; ".join(f"{n}x {r}" for r, n in reasons.most_common(5)))
        if errors == "nan":
            full = np.full((N, self.dim), np.nan, dtype=np.float32)  # (N, d)
            full[done] = z
            row_smiles: list[str | None] = [None] * N
            for i, name in zip(done, smiles, strict=True):
                row_smiles[i] = name
            return Encoded(full, np.arange(N), row_smiles, failures)
        return Encoded(z, np.asarray(done, dtype=np.int64), list(smiles), failures)

    def _featurize(self, items: Sequence[Any], start: int, stop: int,
                   failures: list[EncodeFailure]) -> tuple[GraphTable | None, list[str],
                                                            list[int]]:
        """The domain's graphs of the molecules ``items[start:stop]`` that can be encoded.

        Returns:
            Their :func:`canonical_table` (None if there are none), canonical SMILES and
            positions in ``items``; the others are appended to ``failures``.
        """
        names, positions = [], []
        for i in range(start, stop):
            try:
                names.append(canonical_smiles(items[i], atom_types=self.atom_types,
                                              max_atoms=self.max_atoms))
            except UnsupportedMolecule as err:
                failures.append(EncodeFailure(i, describe(items[i]), str(err)))
                continue
            positions.append(i)
        if not names:
            return None, [], []
        try:
            return canonical_table(names, self.max_atoms), names, positions
        except ValueError:  # the domain refuses a molecule the checks let through: find which
            reasons = [self._refusal(name) for name in names]
        for reason, i in zip(reasons, positions, strict=True):
            if reason is not None:
                failures.append(EncodeFailure(i, describe(items[i]), reason))
        kept = [k for k, reason in enumerate(reasons) if reason is None]
        if not kept:
            return None, [], []
        names, positions = [names[k] for k in kept], [positions[k] for k in kept]
        return canonical_table(names, self.max_atoms), names, positions

    def _refusal(self, smiles: str) -> str | None:
        """Why the domain cannot featurize one molecule (e.g. a dative bond), or None."""
        try:
            canonical_table([smiles], self.max_atoms)
        except ValueError as err:
            return str(err)
        return None

    def _batch(self, table: GraphTable) -> Batch:
        """The encoder's input batch of the ``B`` graphs of ``table`` (the domain's collate)."""
        return move_to(self.domain.collate(table, torch.arange(len(table))), self.device)
