"""TopologyTransformer: sklearn protocol, fitted grids, values by hand and against GUDHI."""

from __future__ import annotations

import math
import pickle

import gudhi
import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from torch_geometric.data import Data

from toposci.domains.synthetic import sample_circle, sample_torus, sample_two_circles
from toposci.summary.transformer import TopologyTransformer
from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import landscapes

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def _clouds(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` noisy 40-point clouds, alternately one circle (label 0) and two circles (1)."""
    clouds, labels = [], []
    for i in range(n):
        s = seed * 1000 + i
        if i % 2 == 0:
            clouds.append(sample_circle(40, noise=0.05, seed=s).double().numpy())
        else:
            clouds.append(sample_two_circles(40, noise=0.05, seed=s)[0].double().numpy())
        labels.append(i % 2)
    return clouds, np.array(labels)


def _gudhi_rips(cloud: np.ndarray, dims: tuple[int, ...]) -> dict[int, np.ndarray]:
    tree = gudhi.RipsComplex(points=cloud).create_simplex_tree(max_dimension=2)
    tree.persistence()
    return {d: tree.persistence_intervals_in_dimension(d).reshape(-1, 2) for d in dims}


def test_pipeline_separates_one_circle_from_two() -> None:
    x_train, y_train = _clouds(30, seed=1)
    x_test, y_test = _clouds(20, seed=2)
    model = Pipeline([("topology", TopologyTransformer(num_landscapes=2, resolution=20)),
                      ("classify", LogisticRegression(max_iter=1000))])
    model.fit(x_train, y_train)
    assert model.score(x_test, y_test) >= 0.95


def test_landscapes_on_the_fitted_range_match_gudhi_diagrams() -> None:
    x_train, _ = _clouds(6, seed=3)
    x_test, _ = _clouds(4, seed=4)
    est = TopologyTransformer(num_landscapes=3, resolution=15).fit(x_train)
    # the fitted grid of each dimension spans GUDHI's births and finite deaths on the training set
    train = [_gudhi_rips(c, (0, 1)) for c in x_train]
    for j, d in enumerate((0, 1)):
        values = np.concatenate([t[d].reshape(-1) for t in train])
        values = values[np.isfinite(values)]
        np.testing.assert_allclose(est.ranges_[j], [values.min(), values.max()], atol=1e-9)
    # test vectors: GUDHI's diagrams of the test clouds, landscapes on the *training* grid
    out = est.transform(x_test)
    assert out.shape == (4, 2 * 3 * 15)
    test = [_gudhi_rips(c, (0, 1)) for c in x_test]
    for j, d in enumerate((0, 1)):
        finite = [t[d][np.isfinite(t[d]).all(axis=1)] for t in test]
        batch = Diagrams.from_arrays(finite, d, dtype=torch.float64)
        expected = landscapes(batch, num_landscapes=3, resolution=15,
                              sample_range=tuple(est.ranges_[j])).reshape(4, -1).numpy()
        np.testing.assert_allclose(out[:, j * 45:(j + 1) * 45], expected, atol=1e-9)
    # fitting on the test clouds moves the grid, so the vectors differ
    assert not np.allclose(TopologyTransformer(num_landscapes=3, resolution=15)
                           .fit_transform(x_test), out)


def test_betti_curves_of_a_square_by_hand() -> None:
    # Rips of the unit square: H0 = 3 x (0, 1) + (0, inf); H1 = (1, sqrt 2).
    est = TopologyTransformer(vectorization="betti", resolution=3).fit([SQUARE])
    np.testing.assert_allclose(est.ranges_, [[0.0, 1.0], [1.0, math.sqrt(2)]])
    # H0 grid 0, .5, 1 (alive: b <= t < d) -> 4, 4, 1; H1 grid 1, 1.21, 1.41 -> 1, 1, 0
    np.testing.assert_array_equal(est.transform([SQUARE]), [[4, 4, 1, 1, 1, 0]])
    # a half-size square on the same grids: H0 deaths at .5 -> 4, 1, 1; H1 (.5, .71) -> 0, 0, 0
    np.testing.assert_array_equal(est.transform([SQUARE / 2]), [[4, 1, 1, 0, 0, 0]])
    assert est.get_feature_names_out().tolist() == [
        "H0_betti_t0", "H0_betti_t1", "H0_betti_t2", "H1_betti_t0", "H1_betti_t1", "H1_betti_t2"]


def test_molecules_from_smiles_and_rdkit_mols_by_hand() -> None:
    from rdkit import Chem

    # lower-star by atomic number: benzene and hexane are all carbon (6), the ring of pyridine
    # closes when its nitrogen (7) enters. H0 = (6, inf) for all three (range 6..7 after
    # widening); H1 = (6, inf) benzene, none hexane, (7, inf) pyridine (range 6..7).
    molecules = ["c1ccccc1", Chem.MolFromSmiles("CCCCCC"), "c1ccncc1"]
    est = TopologyTransformer("molecules", vectorization="betti", resolution=2)
    out = est.fit_transform(molecules)
    np.testing.assert_allclose(est.ranges_, [[6.0, 7.0], [6.0, 7.0]])
    np.testing.assert_array_equal(out, [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 1]])


def test_images_by_hand() -> None:
    # cubical sublevel sets of 1 - intensity: a bright ring is a loop born at 0 that dies when
    # the dark centre (value 1) enters; a dark image is one component born at 1.
    ring = np.ones((3, 3))
    ring[1, 1] = 0.0
    dark = np.zeros((3, 3))
    est = TopologyTransformer("images", vectorization="betti", resolution=2)
    out = est.fit_transform(np.stack([ring, dark]))  # (B, H, W) array
    np.testing.assert_allclose(est.ranges_, [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(out, [[1, 1, 1, 0], [0, 1, 0, 0]])


def test_graphs_as_data_networkx_or_edge_lists() -> None:
    # degree filtration on the clique complex: a 4-cycle keeps its loop, a triangle is filled
    cycle = [(0, 1), (1, 2), (2, 3), (3, 0)]
    triangle = [(0, 1), (1, 2), (2, 0)]

    def both(edges):
        e = np.array(edges).T
        return np.concatenate([e, e[::-1]], axis=1)

    as_tuples = [(both(cycle), 4), (both(triangle), 3)]
    as_data = [Data(edge_index=torch.as_tensor(e), num_nodes=n) for e, n in as_tuples]
    as_nx = [nx.Graph(cycle), nx.Graph(triangle)]
    est = TopologyTransformer("social", vectorization="betti", homology_dims=(1,), resolution=2)
    out = est.fit_transform(as_tuples)
    np.testing.assert_array_equal(out, [[1, 1], [0, 0]])
    np.testing.assert_array_equal(est.transform(as_data), out)
    np.testing.assert_array_equal(est.transform(as_nx), out)


def test_persistence_images_match_gudhi_and_count_features() -> None:
    from gudhi.representations import PersistenceImage

    x = [sample_torus(60, seed=s).double().numpy() for s in range(3)]
    est = TopologyTransformer(filtration="alpha", homology_dims=(1, 2), vectorization="image",
                              image_resolution=(4, 3))
    out = est.fit_transform(x)
    assert out.shape == (3, 2 * 3 * 4) and len(est.get_feature_names_out()) == 24
    assert est.get_feature_names_out()[:5].tolist() == [
        "H1_image_y0_x0", "H1_image_y0_x1", "H1_image_y0_x2", "H1_image_y0_x3", "H1_image_y1_x0"]
    for j, d in enumerate((1, 2)):
        dgms = []
        for cloud in x:
            tree = gudhi.AlphaComplex(points=cloud).create_simplex_tree()
            tree.persistence()
            dgms.append(np.sqrt(tree.persistence_intervals_in_dimension(d)))  # radii
        finite = np.concatenate(dgms)
        births, pers = finite[:, 0], finite[:, 1] - finite[:, 0]
        np.testing.assert_allclose(est.ranges_[j], [births.min(), births.max(), pers.min(),
                                                    pers.max()], rtol=1e-9)
        pixel = max((births.max() - births.min()) / 4, (pers.max() - pers.min()) / 3)
        assert est.bandwidths_[j] == pytest.approx(pixel)
        gudhi_pi = PersistenceImage(bandwidth=pixel, resolution=[4, 3],
                                    im_range=list(est.ranges_[j]))
        np.testing.assert_allclose(out[:, j * 12:(j + 1) * 12], gudhi_pi.fit_transform(dgms),
                                   rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(("params", "n_features"), [
    ({"num_landscapes": 3, "resolution": 7}, 2 * 3 * 7),
    ({"vectorization": "betti", "resolution": 11, "homology_dims": (1,)}, 11),
    ({"vectorization": "image", "image_resolution": (5, 2), "homology_dims": (0, 1)}, 2 * 10),
])
def test_feature_count(params, n_features) -> None:
    x, _ = _clouds(3, seed=5)
    est = TopologyTransformer(**params)
    assert est.fit_transform(x).shape == (3, n_features)
    assert est.get_feature_names_out().shape == (n_features,)


def test_clone_get_params_and_set_params() -> None:
    est = TopologyTransformer("images", vectorization="betti", resolution=7)
    params = est.get_params()
    assert params == {"domain": "images", "filtration": None, "homology_dims": (0, 1),
                      "vectorization": "betti", "num_landscapes": 5, "resolution": 7,
                      "image_resolution": (20, 20), "bandwidth": None}
    est.fit(np.zeros((2, 4, 4)))
    copy = clone(est)
    assert copy.get_params() == params
    assert not hasattr(copy, "ranges_")  # clone copies hyperparameters, not fitted state
    copy.set_params(resolution=3)
    assert copy.fit_transform(np.zeros((2, 4, 4))).shape == (2, 6)


def test_fitted_estimator_behaves_like_an_sklearn_transformer() -> None:
    # the data-dependent parts of sklearn's estimator checks, on point clouds (their checks feed
    # 2-D numeric tables, which are not samples of any domain)
    x, _ = _clouds(6, seed=6)
    est = TopologyTransformer(num_landscapes=2, resolution=10)
    assert est.fit(x) is est
    before = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in vars(est).items()}
    out = est.transform(x)
    assert vars(est).keys() == before.keys()
    for k, v in before.items():  # transform changes no attribute
        np.testing.assert_array_equal(vars(est)[k], v)
    np.testing.assert_array_equal(est.fit(x).transform(x), out)  # fit is idempotent
    np.testing.assert_array_equal(est.transform(x[2:5]), out[2:5])  # subset invariance
    np.testing.assert_array_equal(est.transform(x[::-1]), out[::-1])  # order invariance
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(x), out)
    frame = clone(est).set_output(transform="pandas").fit_transform(x)
    assert list(frame.columns) == est.get_feature_names_out().tolist()


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
    check("TopologyTransformer", TopologyTransformer())


NAN_CLOUD = SQUARE.copy()
NAN_CLOUD[1, 0] = np.nan


@pytest.mark.parametrize(("params", "X", "message"), [
    ({}, [SQUARE, NAN_CLOUD], r"X\[1\] contains NaN"),
    ({}, [SQUARE, SQUARE[:1]], r"X\[1\] has 1 point"),
    ({}, [], "X is empty"),
    ({}, "CCO", "sequence of samples"),
    ({}, [SQUARE, np.zeros(4)], r"X\[1\] must be a point cloud \(N, D\), got shape \(4,\)"),
    ({}, [SQUARE, np.zeros((4, 3))], "same dimension D"),
    ({}, [SQUARE, "not a cloud"], r"X\[1\] must be a point cloud"),
    ({"domain": "crystals"}, [SQUARE], "unknown domain 'crystals'; valid domains: points"),
    ({"vectorization": "silhouette"}, [SQUARE], "valid: landscape, image, betti"),
    ({"filtration": "cech"}, [SQUARE], "valid: rips, alpha"),
    ({"homology_dims": (0, 2)}, [SQUARE], r"homology_dims must be distinct ints in 0\.\.1"),
    ({"homology_dims": ()}, [SQUARE], "homology_dims"),
    ({"resolution": 0}, [SQUARE], "resolution must be a positive int"),
    ({"bandwidth": -1.0}, [SQUARE], "bandwidth must be a positive number"),
    ({"domain": "molecules"}, ["CCO", "C1CC"], r"X\[1\] could not be turned into diagrams: "
                                               "invalid SMILES"),
    ({"domain": "molecules"}, ["CCO", 42], r"X\[1\] must be a SMILES string or an RDKit Mol"),
    ({"domain": "images"}, np.zeros((2, 3)), r"X\[0\] must be an image \(H, W\)"),
    ({"domain": "images"}, [np.zeros((3, 3)), np.zeros((3, 4))], r"same shape \(H, W\)"),
])
def test_bad_input_is_a_value_error(params, X, message) -> None:
    with pytest.raises(ValueError, match=message):
        TopologyTransformer(**params).fit(X)


def test_transform_before_fit() -> None:
    with pytest.raises(NotFittedError):
        TopologyTransformer().transform([SQUARE])
