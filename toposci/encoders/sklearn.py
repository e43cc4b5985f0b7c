"""`TopoMolEmbedder`: the molecule encoder as a scikit-learn transformer (SMILES -> vectors)."""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from toposci.encoders.molecule_encoder import MoleculeEncoder, as_molecule_list

__all__ = ["TopoMolEmbedder"]

_ERRORS = ("raise", "nan")  # "skip" would drop rows and misalign them with y


def _molecules(X: Any) -> list[Any]:
    """The molecules of ``X``: a 1-D sequence, or the column of a one-column table or 2-D
    array."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:  # a pandas DataFrame
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.ndim == 2:
        if X.shape[1] != 1:
            raise ValueError(f"X must hold one column of molecules, got shape {X.shape}")
        X = X[:, 0]
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(f"X must be a 1-D sequence of molecules, got shape {X.shape}")
    return as_molecule_list(X)


class TopoMolEmbedder(TransformerMixin, BaseEstimator):
    """Molecules (SMILES strings or RDKit ``Mol``) -> posterior means of a trained encoder.

    A stateless transformer: :meth:`fit` only loads the encoder (nothing is learned from ``X``),
    :meth:`transform` calls :meth:`MoleculeEncoder.encode
    <toposci.encoders.MoleculeEncoder.encode>`. Use it as the first step of a
    :class:`~sklearn.pipeline.Pipeline`; ``X`` is a list / 1-D array / Series of molecules, or a
    one-column table (what a ``ColumnTransformer`` passes on).

    Args:
        model: a shipped encoder name (``"qm9"``), an encoder file, a training run directory,
            or a loaded :class:`~toposci.encoders.MoleculeEncoder`.
        batch_size: molecules per forward pass.
        errors: ``"raise"`` (a ValueError naming each molecule that cannot be encoded) or
            ``"nan"`` (a row of NaN for it: follow with an imputer, or drop those rows before).
            ``"skip"`` is not offered: dropping rows would misalign ``X`` and ``y``.
        device: where the encoder runs (``"cpu"``, ``"cuda"`` ...).

    Attributes:
        encoder_: the loaded :class:`~toposci.encoders.MoleculeEncoder`.
        n_features_out_: ``d``, the embedding width.

    Shapes:
        ``transform(X)`` of ``N`` molecules is ``(N, d)`` float32.

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.linear_model import Ridge
        >>> model = make_pipeline(TopoMolEmbedder("qm9"), Ridge())
        >>> model.fit(smiles_train, y_train).score(smiles_test, y_test)  # doctest: +SKIP
    """

    def __init__(self, model: str | os.PathLike | MoleculeEncoder = "qm9", *,
                 batch_size: int = 256, errors: str = "raise", device: str = "cpu") -> None:
        self.model = model
        self.batch_size = batch_size
        self.errors = errors
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = False
        return tags

    def fit(self, X: Any, y: Any = None) -> TopoMolEmbedder:
        """Load the encoder (``X`` is only checked to be a non-empty sequence of samples).

        Args:
            X: ``N`` molecules.
            y: ignored (accepted for :class:`~sklearn.pipeline.Pipeline`).

        Returns:
            ``self``.
        """
        self._check_params()
        _molecules(X)  # fail on X that transform would refuse
        if isinstance(self.model, MoleculeEncoder):
            self.encoder_ = copy.deepcopy(self.model).to(self.device)  # params stay untouched
        else:
            self.encoder_ = MoleculeEncoder.load(self.model, device=self.device)
        self.n_features_out_ = self.encoder_.dim
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed ``N`` molecules.

        Returns:
            ``(N, d)`` float32; with ``errors="nan"`` the rows of molecules that cannot be
            encoded are NaN.
        """
        check_is_fitted(self, "encoder_")
        self._check_params()
        return self.encoder_.encode(_molecules(X), batch_size=self.batch_size, errors=self.errors)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``topomol0 ... topomol{d-1}``, the names of :meth:`transform`'s columns.

        Args:
            input_features: ignored: molecules are not tables, so there are no input names.

        Returns:
            ``(d,)`` object array of strings.
        """
        check_is_fitted(self, "encoder_")
        return np.asarray(self.encoder_.feature_names(), dtype=object)

    def _check_params(self) -> None:
        if self.errors not in _ERRORS:
            raise ValueError(f"unknown errors={self.errors!r}; valid: {', '.join(_ERRORS)} "
                             "('skip' would misalign rows with y)")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or \
                self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if not isinstance(self.model, str | os.PathLike | MoleculeEncoder):
            raise ValueError(f"model must be a name, a path or a MoleculeEncoder, got "
                             f"{type(self.model).__name__}")
