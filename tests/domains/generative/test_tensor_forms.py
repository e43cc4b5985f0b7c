"""The tensor forms a diffusion model noises: round trips back to the data view."""

from __future__ import annotations

import pytest
import torch

from toposci.domains.generative.images import ImageData, ImageDomain
from toposci.domains.generative.molecules import MoleculeData, MoleculeDomain
from toposci.domains.generative.proteins import ProteinData, ProteinDomain
from toposci.domains.generative.synthetic import SyntheticData, SyntheticDomain


@pytest.mark.parametrize(("domain", "batch", "shape"), [
    (SyntheticDomain(SyntheticData()), torch.randn(5, 3), (5, 3)),
    (ProteinDomain(ProteinData()), torch.randn(5, 32, 3), (5, 96)),
    # pixels strictly inside (0, 1): the logit clamp at 1e-4 is exact there
    (ImageDomain(ImageData()), torch.rand(5, 1, 28, 28) * 0.98 + 0.01, (5, 1, 28, 28)),
])
def test_round_trip_gives_the_data_view(domain, batch: torch.Tensor, shape) -> None:
    x = domain.to_tensor(batch)
    assert tuple(x.shape) == shape
    assert torch.allclose(domain.output_view(domain.from_tensor(x)), domain.data_view(batch),
                          atol=1e-5)


def test_images_live_in_minus_one_to_one() -> None:
    image = torch.zeros(1, 1, 28, 28)
    image[..., 0], image[..., 1] = 1.0, 0.5
    x = ImageDomain(ImageData()).to_tensor(image)
    assert x[..., 0].eq(1.0).all() and x[..., 1].eq(0.0).all() and x[..., 2:].eq(-1.0).all()


def test_molecules_have_no_tensor_form() -> None:
    with pytest.raises(ValueError, match="latent_diffusion"):
        MoleculeDomain(MoleculeData()).to_tensor(torch.zeros(2, 3))


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match=r"\(B, 32, 3\)"):
        ProteinDomain(ProteinData()).to_tensor(torch.zeros(2, 31, 3))
    with pytest.raises(ValueError, match="28"):
        ImageDomain(ImageData()).to_tensor(torch.zeros(2, 1, 27, 27))
