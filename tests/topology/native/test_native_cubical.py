from __future__ import annotations

import gudhi
import numpy as np
import pytest

from toposci.topology.native import cubical_pairs_native, warmup


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warmup()


SHAPES = [(12, 30), (7, 19), (28, 28), (30, 12), (1, 9), (9, 1), (1, 1), (2, 2)]


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a).reshape(-1, 2)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _gudhi(image: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """GUDHI's bars and critical pixels (C-order flat indices, -1 = essential) per dimension."""
    H, W = image.shape
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=image)
    complex_.compute_persistence()
    regular, essential = complex_.cofaces_of_persistence_pairs()
    f2c = np.arange(H * W).reshape(H, W).ravel(order="F")  # GUDHI numbers pixels column-major
    bars, pixels = [], []
    for d in (0, 1):
        reg = regular[d].reshape(-1, 2) if d < len(regular) else np.zeros((0, 2), np.int64)
        ess = essential[d] if d < len(essential) else np.zeros(0, np.int64)
        idx = np.concatenate([f2c[reg], np.stack([f2c[ess], np.full(len(ess), -1)], 1)])
        bars.append(_sorted_rows(complex_.persistence_intervals_in_dimension(d)))
        pixels.append(idx)
    return bars, pixels


def _values(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Sorted (birth, death) values at critical pixels; death pixel -1 is +inf."""
    flat = image.ravel()
    death = np.where(pixels[:, 1] >= 0, flat[np.maximum(pixels[:, 1], 0)], np.inf)
    return _sorted_rows(np.stack([flat[pixels[:, 0]], death], 1))


def _assert_matches_gudhi(image: np.ndarray, ours: tuple[np.ndarray, np.ndarray], *,
                          exact_pixels: bool) -> None:
    bars, pixels = _gudhi(image)
    for d in (0, 1):
        assert ours[d].dtype == np.int64 and ours[d].shape[1:] == (2,)
        values = _values(image, ours[d])
        np.testing.assert_array_equal(values, bars[d])  # the diagram
        np.testing.assert_array_equal(values, _values(image, pixels[d]))  # critical values
        if exact_pixels:  # no ties: the critical pixels are unique
            np.testing.assert_array_equal(_sorted_rows(ours[d]), _sorted_rows(pixels[d]))


@pytest.mark.parametrize("n_threads", [None, 1, 3])
def test_random_images_match_gudhi_pixel_for_pixel(rng, n_threads):
    for shape in SHAPES:
        images = rng.normal(size=(5, *shape))
        for image, ours in zip(images, cubical_pairs_native(images, n_threads=n_threads)):
            _assert_matches_gudhi(image, ours, exact_pixels=True)


@pytest.mark.parametrize("levels", [2, 4, 256])
def test_images_with_ties_match_gudhi(rng, levels):
    for shape in SHAPES:
        images = rng.integers(0, levels, size=(4, *shape)).astype(np.float64)
        for image, ours in zip(images, cubical_pairs_native(images)):
            _assert_matches_gudhi(image, ours, exact_pixels=False)


def test_integer_dtype_is_accepted(rng):
    images = rng.integers(0, 5, size=(2, 7, 19))
    for image, ours in zip(images, cubical_pairs_native(images)):
        _assert_matches_gudhi(image.astype(np.float64), ours, exact_pixels=False)


def test_constant_image_has_one_essential_class():
    h0, h1 = cubical_pairs_native(np.full((1, 5, 8), 0.3))[0]
    assert len(h1) == 0 and len(h0) == 1
    assert h0[0, 1] == -1


def test_ring_has_one_loop_from_the_ring_to_the_hole():
    yy, xx = np.mgrid[:28, :28] - 13.5
    r = np.hypot(yy, xx)
    ring = np.where(r < 6, 0.7, np.where(r <= 10, 0.0, 1.0))
    h0, h1 = cubical_pairs_native(ring[None])[0]
    np.testing.assert_array_equal(_values(ring, h0), [[0.0, np.inf]])
    np.testing.assert_array_equal(_values(ring, h1), [[0.0, 0.7]])
    assert r.flat[h1[0, 0]] > 6 and r.flat[h1[0, 1]] < 6  # born on the ring, dies in the hole


def test_two_blobs_are_two_classes():
    image = np.ones((10, 12))
    image[1:4, 1:4] = 0.0
    image[6:9, 7:11] = 0.2
    h0, h1 = cubical_pairs_native(image[None])[0]
    np.testing.assert_array_equal(_values(image, h0), [[0.0, np.inf], [0.2, 1.0]])
    assert len(h1) == 0


def test_diagonal_neighbours_connect_and_enclose():
    # Four pixels touching at corners form one component and enclose the centre pixel.
    image = np.array([[1.0, 0.0, 1.0], [0.0, 0.5, 0.0], [1.0, 0.0, 1.0]])
    h0, h1 = cubical_pairs_native(image[None])[0]
    np.testing.assert_array_equal(_values(image, h0), [[0.0, np.inf]])
    np.testing.assert_array_equal(_values(image, h1), [[0.0, 0.5]])
    np.testing.assert_array_equal(h1[:, 1], [4])  # the centre pixel fills the hole
    _assert_matches_gudhi(image, (h0, h1), exact_pixels=False)


@pytest.mark.parametrize(("images", "match"), [
    (np.zeros((4, 4)), "image\\[None\\]"),
    (np.zeros((2, 0, 3)), "empty"),
    (np.array([[[0.0, np.nan]]]), "non-finite"),
    (np.array([[[0.0, np.inf]]]), "non-finite"),
    (np.zeros((1, 2, 2), dtype=bool), "real numbers"),
    ([[[0.0]]], "numpy array"),
])
def test_bad_images_raise(images, match):
    with pytest.raises(ValueError, match=match):
        cubical_pairs_native(images)
    with pytest.raises(ValueError, match="n_threads"):
        cubical_pairs_native(np.zeros((1, 2, 2)), n_threads=0)
