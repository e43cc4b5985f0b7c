"""Latent-space metrics (toposci.metrics.latent) on hand-built models with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from toposci.domains.base import Generated
from toposci.domains.generative.synthetic import SyntheticData, SyntheticDomain
from toposci.domains.validity import Validity
from toposci.metrics.latent import (
    ClassChange,
    PropertyChange,
    ValidityLoss,
    domain_batches,
    encode_all,
    interpolate,
    latent_attack,
    latent_path,
    mahalanobis_distance,
    negative_elbo,
    ood_scores,
    pgd_latent,
    roc_auc,
)
from toposci.models import TopoVAE


def identity_vae(d: int = 2, *, decoder: nn.Module | None = None,
                 logvar: float = -20.0) -> TopoVAE:
    """A VAE on plain tensors whose posterior mean is the input and whose posterior
    log-variance is ``logvar`` in every dimension; the decoder is the identity by default."""
    model = TopoVAE(nn.Identity(), decoder or nn.Identity(), latent_dim=d, encoder_features=d)
    with torch.no_grad():
        model.to_mean.weight.copy_(torch.eye(d))
        model.to_mean.bias.zero_()
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.fill_(logvar)
    return model.double().eval()


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, z: Tensor) -> Tensor:
        return self.factor * z


class Jump(nn.Module):
    """``z + [z_0 > 0.6] e_1``: a decoder with a unit jump across the line ``z_0 = 0.6``."""

    def forward(self, z: Tensor) -> Tensor:
        jump = torch.zeros_like(z)
        jump[:, 1] = (z[:, 0] > 0.6).to(z.dtype)
        return z + jump


class RightHalfValid:
    """A stub domain: outputs are the points themselves, valid when ``x_0 > 0``."""

    def output_view(self, output: Tensor) -> Tensor:
        return output

    def generate(self, output: Tensor) -> Generated:
        return Generated(list(output), [Validity.ok() if x[0] > 0 else Validity.fail("left")
                                        for x in output])


class InsideUnitDisc(RightHalfValid):
    def generate(self, output: Tensor) -> Generated:
        return Generated(list(output), [Validity.ok() if x.norm() < 1 else Validity.fail("out")
                                        for x in output])


# ---------------------------------------------------------------------- paths


def test_linear_and_spherical_paths_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0], [0.0, 3.0], [-1.0, 0.0]], dtype=torch.float64)
    lin = latent_path(a, b, steps=3)
    assert torch.allclose(lin[:, 1], (a + b) / 2)
    sph = latent_path(a, b, steps=3, kind="spherical")
    s = math.sin(math.pi / 4)  # sin(w / 2) / sin(w) for w = pi / 2 is sqrt(2) / 2
    assert torch.allclose(sph[0, 1], torch.tensor([s, s], dtype=torch.float64))
    assert torch.allclose(sph[1, 1], torch.tensor([s, 3 * s], dtype=torch.float64))
    assert torch.allclose(sph[2], lin[2])  # opposite codes: no plane, the linear path
    zero = torch.zeros(1, 2, dtype=torch.float64)
    assert torch.allclose(latent_path(zero, b[:1], steps=3, kind="spherical"),
                          latent_path(zero, b[:1], steps=3))
    for path in (lin, sph):
        assert torch.allclose(path[:, 0], a) and torch.allclose(path[:, -1], b)
    # on the unit circle, slerp moves at constant angular speed
    quarter = latent_path(a[:1], b[:1], steps=7, kind="spherical")[0]  # (7, 2)
    angles = torch.atan2(quarter[:, 1], quarter[:, 0])
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 7, dtype=torch.float64))
    assert torch.allclose(quarter.norm(dim=1), torch.ones(7, dtype=torch.float64))


def test_latent_path_errors() -> None:
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="unknown path kind 'geodesic'; valid: linear"):
        latent_path(z, z, kind="geodesic")
    with pytest.raises(ValueError, match="steps"):
        latent_path(z, z, steps=1)
    with pytest.raises(ValueError, match="differ"):
        latent_path(z, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        latent_path(z, torch.full((2, 3), float("nan")))


def test_interpolation_of_the_identity_decoder() -> None:
    start = torch.tensor([[1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    end = torch.tensor([[0.0, 1.0], [0.0, -2.0]], dtype=torch.float64)
    model = identity_vae()
    domain = SyntheticDomain(SyntheticData())  # valid = finite
    lin = interpolate(model, start, end, steps=5, domain=domain).summary()
    # straight, evenly paced paths: steps |b - a| / 4 = sqrt(2) / 4 and 2 sqrt(2) / 4
    assert lin["mean_step"] == pytest.approx(3 * math.sqrt(2) / 8)
    assert lin["step_ratio"] == pytest.approx(1.0)
    assert lin["length_ratio"] == pytest.approx(1.0)
    assert lin["endpoint_error"] == pytest.approx(0.0, abs=1e-12)
    assert lin["validity"] == 1.0 and lin["interior_validity"] == 1.0
    sph = interpolate(model, start, end, steps=5, kind="spherical").summary()
    # quarter circles of radius 1 and 2 in 4 steps: chords 2 r sin(pi / 16)
    chord = 2 * math.sin(math.pi / 16)
    assert sph["mean_step"] == pytest.approx(1.5 * chord)
    assert sph["step_ratio"] == pytest.approx(1.0)
    assert sph["length_ratio"] == pytest.approx(4 * chord / math.sqrt(2))
    assert math.isnan(sph["validity"])  # no domain given


def test_interpolation_sees_a_jump_and_reconstruction_errors() -> None:
    start = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    end = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    result = interpolate(identity_vae(decoder=Jump()), start, end, steps=5)
    # t = 0, .25, .5, .75, 1: the jump falls between .5 and .75
    jump = math.sqrt(0.25**2 + 1.0)
    assert torch.allclose(result.step_distances[0],
                          torch.tensor([0.25, 0.25, jump, 0.25], dtype=torch.float64))
    summary = result.summary()
    assert summary["step_ratio"] == pytest.approx(jump / ((0.75 + jump) / 4))
    assert summary["length_ratio"] == pytest.approx((0.75 + jump) / math.sqrt(2))
    # x_b = (1, 0) decodes to (1, 1): squared error 1; x_a decodes to itself
    assert torch.allclose(result.endpoint_error, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    doubled = interpolate(identity_vae(decoder=Scale(2.0)), start, end, steps=3,
                          domain=RightHalfValid())
    assert torch.equal(doubled.valid, torch.tensor([[False, True, True]]))
    assert doubled.summary()["interior_validity"] == 1.0
    assert doubled.summary()["validity"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same number of samples"):
        interpolate(identity_vae(), start, torch.zeros(2, 2, dtype=torch.float64))


def test_interpolation_of_a_trained_shape_model() -> None:
    """A small untrained MLP VAE on the synthetic domain: shapes and the endpoint error."""
    domain = SyntheticDomain(SyntheticData(space="circle", n=40))
    data = domain.load()
    model = TopoVAE(domain.make_encoder(domain.EncoderOptions(hidden=(16, 16))),
                    domain.make_decoder(domain.DecoderOptions(hidden=(16,)), 3),
                    latent_dim=3, io=domain).eval()
    a, b = data.train[:6], data.train[6:12]
    result = interpolate(model, a, b, steps=4, kind="spherical", domain=domain)
    assert result.codes.shape == (6, 4, 3) and result.views.shape == (6, 4, 2)
    expected = domain.reconstruction_loss(model.reconstruct(a), a)
    assert torch.allclose(result.endpoint_error[:, 0], expected)
    assert torch.allclose(result.views[:, 0], model.reconstruct(a))


# ---------------------------------------------------------------------- OOD


def test_roc_auc_agrees_with_sklearn_with_ties(rng: np.random.Generator) -> None:
    for n_in, n_out in ((30, 20), (5, 40), (1, 1)):
        a = np.round(rng.normal(size=n_in), 1)  # rounding makes ties
        b = np.round(rng.normal(0.7, size=n_out), 1)
        expected = roc_auc_score(np.r_[np.zeros(n_in), np.ones(n_out)], np.r_[a, b])
        assert roc_auc(a, b) == pytest.approx(expected, abs=1e-12)
        assert roc_auc(torch.from_numpy(a), list(b)) == pytest.approx(expected, abs=1e-12)
    assert roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert roc_auc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert roc_auc([1.0, 1.0], [1.0]) == 0.5


def test_roc_auc_errors() -> None:
    with pytest.raises(ValueError, match="in_scores must be a non-empty"):
        roc_auc([], [1.0])
    with pytest.raises(ValueError, match="out_scores contains NaN"):
        roc_auc([1.0], [float("nan")])


def test_mahalanobis_agrees_with_scipy(rng: np.random.Generator) -> None:
    ref = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3))
    codes = rng.normal(size=(4, 3))
    inverse = np.linalg.inv(np.cov(ref, rowvar=False))
    expected = [mahalanobis(c, ref.mean(axis=0), inverse) for c in codes]
    got = mahalanobis_distance(torch.from_numpy(codes), torch.from_numpy(ref), ridge=0.0)
    assert np.allclose(got.numpy(), expected, rtol=1e-10)
    # a constant latent dimension: the ridge keeps the solve defined
    flat = torch.cat([torch.from_numpy(ref), torch.zeros(50, 1, dtype=torch.float64)], dim=1)
    assert torch.isfinite(mahalanobis_distance(torch.zeros(2, 4), flat)).all()
    with pytest.raises(ValueError, match="reference must be"):
        mahalanobis_distance(torch.zeros(2, 3), torch.zeros(5, 2))


def test_negative_elbo_by_hand() -> None:
    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=torch.float64)
    # near-zero posterior variance: the sample is the mean, decoded exactly
    # -ELBO = KL = 1/2 sum(mu^2 + s2 - 1 - log s2) with log s2 = -20
    s2 = math.exp(-20.0)
    kl = 0.5 * ((x.square() + s2 - 1.0 + 20.0).sum(dim=1))
    got = negative_elbo(identity_vae(), x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(got, kl, rtol=1e-9)
    # variance 1/4: E|s eps|^2 = d / 4 for the squared-error likelihood
    model = identity_vae(logvar=math.log(0.25))
    kl = 0.5 * ((x.square() + 0.25 - 1.0 - math.log(0.25)).sum(dim=1))
    got = negative_elbo(model, x, n_samples=4000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(got, kl + 0.5, atol=0.03)
    with pytest.raises(ValueError, match="n_samples"):
        negative_elbo(model, x, n_samples=0)


def test_ood_scores_separate_a_shifted_set() -> None:
    domain = SyntheticDomain(SyntheticData(space="circle", n=60))
    data = domain.load()
    model = identity_vae()
    reference = encode_all(model, domain_batches(domain, data.train.double(), batch_size=16))
    assert torch.allclose(reference, data.train.double())
    shifted = data.val.double() * 3.0  # a circle of radius 3 around the unit circle's centre
    scores = {name: ood_scores(model, [batch], reference_codes=reference,
                               generator=torch.Generator().manual_seed(0))
              for name, batch in (("in", data.val.double()), ("out", shifted))}
    for key in ("negative_elbo", "mahalanobis"):
        assert scores["in"][key].shape == (data.val.shape[0],)
        assert roc_auc(scores["in"][key], scores["out"][key]) == 1.0
    with pytest.raises(ValueError, match="no batches"):
        ood_scores(model, [], reference_codes=reference)


# ---------------------------------------------------------------------- attacks


def test_pgd_reaches_the_optimum_of_a_linear_objective() -> None:
    g = torch.Generator().manual_seed(0)
    W = torch.randn(4, 3, generator=g, dtype=torch.float64)
    u = torch.randn(4, generator=g, dtype=torch.float64)
    decoder = nn.Linear(3, 4, dtype=torch.float64)
    with torch.no_grad():
        decoder.weight.copy_(W)
    codes = torch.randn(5, 3, generator=g, dtype=torch.float64)
    v = W.T @ u  # gradient of u . (W z + c) in z
    for p in decoder.parameters():
        p.requires_grad_(True)
    attacked = pgd_latent(decoder, codes, lambda clean, out: out @ u, epsilon=0.3, steps=1,
                          step_size=0.3, random_start=False)
    assert torch.allclose(attacked - codes, 0.3 * v / v.norm())  # one step to the boundary
    attacked = pgd_latent(decoder, codes, lambda clean, out: out @ u, epsilon=0.3, steps=1,
                          step_size=0.3, norm="linf", random_start=False)
    assert torch.allclose(attacked - codes, 0.3 * v.sign())
    assert all(p.grad is None for p in decoder.parameters())


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_property_attack_needs_the_hand_computed_epsilon(norm: str) -> None:
    """Decoder W z + c, property u . x: a change of tau needs ||delta|| = tau / ||W^T u||_q
    with q the dual norm (2 for L2, 1 for L-infinity)."""
    g = torch.Generator().manual_seed(1)
    W = torch.randn(4, 3, generator=g, dtype=torch.float64)
    u = torch.randn(4, generator=g, dtype=torch.float64)
    decoder = nn.Linear(3, 4, dtype=torch.float64)
    with torch.no_grad():
        decoder.weight.copy_(W)
    model = identity_vae(3, decoder=decoder)
    tau = 1.0
    needed = tau / float((W.T @ u).norm(p=2 if norm == "l2" else 1))
    codes = torch.randn(8, 3, generator=g, dtype=torch.float64)
    criterion = PropertyChange(lambda out: out @ u, tau)
    rates = {}
    for factor in (0.9, 1.1):
        result = latent_attack(model, codes, criterion, epsilon=factor * needed, steps=50,
                               norm=norm, generator=torch.Generator().manual_seed(0))
        assert (result.perturbation <= factor * needed * (1 + 1e-9)).all()
        rates[factor] = result.success_rate
    assert rates == {0.9: 0.0, 1.1: 1.0}


def test_class_change_flips_exactly_the_codes_within_epsilon() -> None:
    classifier = nn.Linear(2, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))  # class 0 iff x_0 > 0
    margins = torch.tensor([0.2, 0.5, -0.6, 1.0, 2.0], dtype=torch.float64)
    codes = torch.stack([margins, torch.ones_like(margins)], dim=1)
    result = latent_attack(identity_vae(), codes, ClassChange(classifier, lambda out: out),
                           epsilon=0.75, random_start=False)
    assert torch.equal(result.success, torch.tensor([True, True, True, False, False]))
    assert result.success_rate == 3 / 5
    assert result.summary() == {"epsilon": 0.75, "norm": "l2", "steps": 20, "n_codes": 5,
                                "n_eligible": 5, "success_rate": 0.6}


def test_validity_attack_counts_only_valid_codes() -> None:
    # valid inside the unit disc: from radius 0.2, any direction leaves it once epsilon > 0.8
    codes = torch.tensor([[0.2, 0.0], [0.0, -0.2], [3.0, 0.0]], dtype=torch.float64)
    criterion = ValidityLoss(InsideUnitDisc())
    far = latent_attack(identity_vae(), codes, criterion, epsilon=1.5,
                        generator=torch.Generator().manual_seed(0))
    assert torch.equal(far.eligible, torch.tensor([True, True, False]))
    assert far.success_rate == 1.0
    near = latent_attack(identity_vae(), codes, criterion, epsilon=0.5,
                         generator=torch.Generator().manual_seed(0))
    assert near.success_rate == 0.0
    nothing = latent_attack(identity_vae(), codes[2:], criterion, epsilon=0.5)
    assert math.isnan(nothing.success_rate)


def test_attack_errors() -> None:
    model, codes = identity_vae(), torch.zeros(2, 2, dtype=torch.float64)
    criterion = PropertyChange(lambda out: out[:, 0], 0.1)
    with pytest.raises(ValueError, match="unknown norm 'l1'; valid: l2, linf"):
        latent_attack(model, codes, criterion, epsilon=0.1, norm="l1")
    with pytest.raises(ValueError, match="epsilon"):
        latent_attack(model, codes, criterion, epsilon=0.0)
    with pytest.raises(ValueError, match="threshold"):
        PropertyChange(lambda out: out[:, 0], 0.0)
    with pytest.raises(ValueError, match="view="):
        PropertyChange(lambda out: out[:, 0], 1.0, differentiable=False)


def test_every_metric_runs_on_a_molecule_model() -> None:
    """Genericity: graph batches in, GraphLogits out, RDKit validity (an untrained model)."""
    from toposci.domains.generative.molecules import MoleculeData, MoleculeDomain
    from toposci.metrics.ood_sets import molecule_table

    domain = MoleculeDomain(MoleculeData())
    model = TopoVAE(domain.make_encoder(domain.EncoderOptions(hidden=8, layers=1,
                                                              out_features=8)),
                    domain.make_decoder(domain.DecoderOptions(hidden=(16,)), 4),
                    latent_dim=4, io=domain).eval()
    table = molecule_table(["CCO", "c1ccncc1", "CC(=O)N", "OCC#N", "C1CC1O", "CCOC"])
    a, b = domain.collate(table, torch.arange(3)), domain.collate(table, torch.arange(3, 6))
    result = interpolate(model, a, b, steps=4, kind="spherical", domain=domain)
    assert result.valid.shape == (3, 4) and result.views.shape[:2] == (3, 4)
    assert torch.allclose(result.endpoint_error[:, 0],
                          domain.reconstruction_loss(model.reconstruct(a), a))
    scores = ood_scores(model, domain_batches(domain, table, batch_size=4),
                        reference_codes=encode_all(model, [a, b]))
    assert all(s.shape == (6,) and torch.isfinite(s).all() for s in scores.values())
    codes = model.encode(a)
    attack = latent_attack(model, codes, ValidityLoss(domain), epsilon=0.5, steps=3)
    clean = [bool(v) for v in domain.generate(model.decode(codes)).validity]
    assert attack.eligible.tolist() == clean
