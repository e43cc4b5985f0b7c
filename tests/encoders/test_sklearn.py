"""TopoMolEmbedder: scikit-learn's protocol, and a Pipeline with a regressor."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import estimator_checks

from toposci.encoders import MoleculeEncoder, TopoMolEmbedder

SMILES = ["CCO", "c1ccccc1", "N#CC(=O)O", "OC1COC1", "CC(C)(C)F", "c1cnoc1"]


def _split(rows: list[dict[str, str]], n_train: int, n_test: int) -> tuple[list[str], ...]:
    train = [r["smiles"] for r in rows if r["gdss_split"] == "train"][:n_train]
    test = [r["smiles"] for r in rows if r["gdss_split"] == "test"][:n_test]
    return train, test


def _heavy_atoms(smiles: list[str]) -> np.ndarray:
    return np.array([Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in smiles], dtype=float)


def test_pipeline_with_a_regressor(encoder_file: Path, encoder: MoleculeEncoder,
                                   qm9_rows) -> None:
    train, test = _split(qm9_rows, 300, 100)
    y_train, y_test = _heavy_atoms(train), _heavy_atoms(test)
    model = Pipeline([("embed", TopoMolEmbedder(str(encoder_file))),
                      ("ridge", Ridge(alpha=0.1))])
    model.fit(train, y_train)
    # the pipeline is exactly Ridge on the encoder's vectors
    manual = Ridge(alpha=0.1).fit(encoder.encode(train), y_train)
    np.testing.assert_allclose(model.predict(test), manual.predict(encoder.encode(test)),
                               rtol=1e-5, atol=1e-5)
    # sum pooling keeps the molecule's size linearly readable, even after a few training steps
    assert model.score(test, y_test) > 0.9


def test_transform_is_encode(encoder_file: Path, encoder: MoleculeEncoder) -> None:
    est = TopoMolEmbedder(encoder_file, batch_size=2)
    assert est.fit(SMILES) is est
    out = est.transform(SMILES)
    np.testing.assert_allclose(out, encoder.encode(SMILES), rtol=1e-5, atol=1e-5)
    assert est.n_features_out_ == encoder.dim and out.shape == (6, encoder.dim)
    # a Series, an object array and a one-column table (what ColumnTransformer passes on)
    np.testing.assert_array_equal(est.transform(pd.Series(SMILES)), out)
    np.testing.assert_array_equal(est.transform(np.array(SMILES, dtype=object)), out)
    np.testing.assert_array_equal(est.transform(pd.DataFrame({"smiles": SMILES})), out)
    np.testing.assert_array_equal(est.transform(np.array(SMILES)[:, None]), out)


def test_fitted_estimator_behaves_like_an_sklearn_transformer(encoder_file: Path) -> None:
    # the data-dependent parts of sklearn's estimator checks, on molecules (their own checks
    # feed numeric tables, which are not molecules)
    est = TopoMolEmbedder(str(encoder_file)).fit(SMILES)
    before = dict(vars(est))
    out = est.transform(SMILES)
    assert vars(est).keys() == before.keys() and all(vars(est)[k] is v
                                                     for k, v in before.items())
    np.testing.assert_array_equal(est.fit(SMILES).transform(SMILES), out)  # fit is idempotent
    np.testing.assert_allclose(est.transform(SMILES[2:5]), out[2:5], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(est.transform(SMILES[::-1]), out[::-1], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(SMILES), out)
    frame = clone(est).set_output(transform="pandas").fit_transform(SMILES)
    assert list(frame.columns) == [f"topomol{i}" for i in range(out.shape[1])]
    np.testing.assert_array_equal(frame.to_numpy(), out)


def test_params_clone_and_a_loaded_encoder(encoder: MoleculeEncoder) -> None:
    est = TopoMolEmbedder()
    assert est.get_params() == {"model": "qm9", "batch_size": 256, "errors": "raise",
                                "device": "cpu"}
    given = TopoMolEmbedder(encoder, errors="nan")
    copy = clone(given)
    assert copy.get_params()["errors"] == "nan" and not hasattr(copy, "encoder_")
    out = copy.fit(SMILES).transform(["CCO", "CCS"])
    assert copy.encoder_ is not encoder  # the parameter itself is left untouched
    np.testing.assert_array_equal(out[0], encoder.encode(["CCO"])[0])
    assert np.isnan(out[1]).all()


def test_errors_and_unfitted(encoder_file: Path) -> None:
    with pytest.raises(NotFittedError):
        TopoMolEmbedder(encoder_file).transform(SMILES)
    with pytest.raises(ValueError, match=r"\[1\] 'CCS': unsupported element S"):
        TopoMolEmbedder(encoder_file).fit(SMILES).transform(["CCO", "CCS"])
    with pytest.raises(ValueError, match=r"unknown errors='skip'; valid: raise, nan"):
        TopoMolEmbedder(encoder_file, errors="skip").fit(SMILES)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        TopoMolEmbedder(encoder_file, batch_size=0).fit(SMILES)
    with pytest.raises(ValueError, match=r"one column of molecules, got shape \(2, 2\)"):
        TopoMolEmbedder(encoder_file).fit(np.array([["CCO", "CO"], ["C", "N"]]))
    with pytest.raises(ValueError, match=r"molecules is empty"):
        TopoMolEmbedder(encoder_file).fit([])
    with pytest.raises(ValueError, match=r"not one string"):
        TopoMolEmbedder(encoder_file).fit("CCO")


@pytest.mark.parametrize("check", [
    estimator_checks.check_no_attributes_set_in_init,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_estimator_cloneable,
    estimator_checks.check_estimator_repr,
    estimator_checks.check_estimator_tags_renamed,
    estimator_checks.check_valid_tag_types,
    estimator_checks.check_mixin_order,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
    estimator_checks.check_estimators_unfitted,
    estimator_checks.check_transformers_unfitted,
    estimator_checks.check_get_feature_names_out_error,
], ids=lambda check: check.__name__)
def test_sklearn_estimator_checks_that_need_no_tabular_data(check) -> None:
    # The rest of sklearn's suite feeds random numeric tables; with input tag two_d_array=False
    # (samples are molecules) check_estimator skips them all, so the API checks run one by one
    # here and their data-dependent counterparts run on molecules in the tests above.
    check("TopoMolEmbedder", TopoMolEmbedder())


def test_pipeline_helper_and_pickled_pipeline(encoder_file: Path, qm9_rows) -> None:
    train, test = _split(qm9_rows, 60, 20)
    model = make_pipeline(TopoMolEmbedder(str(encoder_file)), Ridge()).fit(train,
                                                                          _heavy_atoms(train))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(test), model.predict(test))
