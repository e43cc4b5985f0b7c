from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch

from toposci.testing import assert_diagrams_close
from toposci.topology.cubical import cubical_diagrams


def _gudhi_diagram(array: np.ndarray, dim: int) -> np.ndarray:
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=array)
    complex_.compute_persistence()
    return complex_.persistence_intervals_in_dimension(dim).reshape(-1, 2)


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _ring(size: int = 28, *, ring: float = 0.0, inside: float = 0.7,
          outside: float = 1.0) -> np.ndarray:
    """An annulus (radii 6..10) of value ``ring``, ``inside`` in its hole, ``outside`` around."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    return np.where(r < 6, inside, np.where(r <= 10, ring, outside))


def test_ring_sublevel_exact_values():
    out = cubical_diagrams(torch.tensor(_ring()[None]))
    # The ring is one component born at 0 that never dies; the hole and the outside join it
    # when they enter (zero persistence). Its loop is born at 0 and dies when the hole fills.
    np.testing.assert_array_equal(out[0].to_arrays()[0], [[0.0, np.inf]])
    np.testing.assert_array_equal(out[1].to_arrays()[0], [[0.0, 0.7]])


def test_noisy_ring_has_one_dominant_loop(rng):
    image = _ring() + rng.uniform(0, 0.01, (28, 28))
    h1 = cubical_diagrams(torch.tensor(image[None]))[1].to_arrays()[0]
    life = h1[:, 1] - h1[:, 0]
    assert (life > 0.5).sum() == 1 and (np.sort(life)[:-1] < 0.02).all()
    birth, death = h1[np.argmax(life)]
    assert 0 <= birth <= 0.01 and 0.7 <= death <= 0.71
    # The loop dies at the brightest pixel of the hole: the gradient says which one.
    x = torch.tensor(image[None], requires_grad=True)
    d1 = cubical_diagrams(x)[1]
    d1.deaths[0, int(np.argmax(life))].backward()
    hole = np.where(np.isclose(_ring(), 0.7), image, -np.inf)
    expected = np.zeros_like(image)
    expected.flat[np.argmax(hole)] = 1.0
    np.testing.assert_array_equal(x.grad[0].numpy(), expected)


def test_bright_ring_superlevel():
    image = _ring(ring=1.0, inside=0.3, outside=0.0)
    out = cubical_diagrams(torch.tensor(image[None]), superlevel=True)
    # Thresholding from above: the ring appears at 1 and never dies (death -inf); its loop is
    # filled when the threshold passes the hole's value 0.3.
    np.testing.assert_array_equal(out[0].to_arrays()[0], [[1.0, -np.inf]])
    np.testing.assert_array_equal(out[1].to_arrays()[0], [[1.0, 0.3]])


def test_two_blobs_two_components():
    image = np.ones((20, 24))
    image[2:7, 3:9] = 0.0
    image[12:18, 14:21] = 0.2
    h0 = cubical_diagrams(torch.tensor(image[None]))[0].to_arrays()[0]
    np.testing.assert_array_equal(_sorted_rows(h0), [[0.0, np.inf], [0.2, 1.0]])


@pytest.mark.parametrize("shape", [(12, 30), (7, 19), (30, 12), (5, 6, 7)])
def test_agrees_with_gudhi_on_non_square_inputs(rng, shape):
    arrays = rng.random((3, *shape))
    out = cubical_diagrams(torch.tensor(arrays), ndim=len(shape),
                           homology_dims=range(len(shape)))
    for b in range(3):
        for d, diagrams in out.items():
            ours, ref = diagrams.to_arrays()[b], _gudhi_diagram(arrays[b], d)
            assert gudhi.bottleneck_distance(ours, ref) < 1e-6
            # Every gathered value is exactly GUDHI's value.
            np.testing.assert_array_equal(_sorted_rows(ours), _sorted_rows(ref))


def test_superlevel_matches_gudhi_on_negated_image(rng):
    image = rng.random((9, 13))
    out = cubical_diagrams(torch.tensor(image[None]), superlevel=True)
    for d in (0, 1):
        np.testing.assert_array_equal(_sorted_rows(-out[d].to_arrays()[0]),
                                      _sorted_rows(_gudhi_diagram(-image, d)))


def test_batch_equals_single_images_and_threads(rng):
    images = torch.tensor(rng.random((5, 8, 11)))
    batched = cubical_diagrams(images, n_jobs=2)
    for b in range(5):
        single = cubical_diagrams(images[b : b + 1], n_jobs=1)
        for d in (0, 1):
            np.testing.assert_array_equal(batched[d].to_arrays()[b], single[d].to_arrays()[0])


def test_gradient_goes_to_the_global_minimum_of_a_non_square_image(rng):
    image = torch.tensor(rng.random((1, 7, 19)), requires_grad=True)
    h0 = cubical_diagrams(image, homology_dims=(0,))[0]
    essential = torch.isinf(h0.deaths) & h0.mask
    h0.births[essential].sum().backward()
    expected = torch.zeros_like(image)
    expected.view(-1)[int(image.detach().argmin())] = 1.0
    assert torch.equal(image.grad, expected)


def test_gradcheck(rng):
    image = torch.tensor(rng.random((2, 6, 7)), requires_grad=True)

    def finite_values(x: torch.Tensor) -> torch.Tensor:
        out = cubical_diagrams(x)
        return torch.cat([d.values[d.mask.unsqueeze(-1) & torch.isfinite(d.values)]
                          for d in out.values()])

    assert torch.autograd.gradcheck(finite_values, (image,))


def test_dtype_and_padding(rng):
    out = cubical_diagrams(torch.rand(3, 6, 6), homology_dims=(1,))[1]
    assert out.values.dtype == torch.float32
    assert (out.values[~out.mask] == 0).all()


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (torch.full((1, 4, 4), float("nan")), {}, "NaN"),
        (torch.zeros(0, 4, 4), {}, "empty batch"),
        (torch.rand(4, 4), {}, "batch dimension"),
        (torch.rand(2, 3, 4, 4), {}, "ndim=3"),
        (torch.rand(3, 4, 4), {"ndim": 3}, "batch dimension"),
        (torch.ones(2, 4, 4, dtype=torch.long), {}, "floating-point"),
        (torch.rand(2, 4, 4), {"homology_dims": (2,)}, "valid dimensions are 0 .. 1"),
        (torch.rand(2, 4, 4), {"ndim": 0}, "ndim"),
        (np.zeros((2, 4, 4)), {}, "torch.Tensor"),
    ],
)
def test_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cubical_diagrams(images, **kwargs)


@pytest.mark.parametrize("shape", [(12, 30), (7, 19), (28, 28)])
def test_native_and_gudhi_backends_agree_with_gradients(rng, shape):
    images = torch.tensor(rng.random((3, *shape)), dtype=torch.float64, requires_grad=True)
    grads = {}
    for backend in ("native", "gudhi"):
        dgms = cubical_diagrams(images, homology_dims=(0, 1), backend=backend)
        for d in (0, 1):
            other = cubical_diagrams(images, homology_dims=(d,), backend="gudhi")[d]
            assert_diagrams_close(dgms[d].drop_infinite(), other.drop_infinite().to_arrays())
        total = sum(g.drop_infinite().values.sum() for g in dgms.values())
        grads[backend] = torch.autograd.grad(total, images)[0]
    torch.testing.assert_close(grads["native"], grads["gudhi"])


def test_native_backend_is_for_images_only():
    with pytest.raises(ValueError, match="backend='gudhi'"):
        cubical_diagrams(torch.rand(1, 4, 5, 6), ndim=3, backend="native")
    with pytest.raises(ValueError, match="valid backends"):
        cubical_diagrams(torch.rand(1, 4, 5), backend="ripser")
