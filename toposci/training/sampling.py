"""Drawing samples from a trained run, check their validity, write files.

A TopoVAE decodes codes drawn from its prior; a diffusion model runs its sampler (the recipe's
``model.diffusion.sampler`` and ``sample_steps``) from Gaussian noise, and a latent diffusion
model then decodes the denoised codes with its TopoVAE's decoder. Either way the domain's
``generate`` turns the output into samples and checks them (molecules: validity without and with
the valence correction, side by side).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from toposci.domains.base import Generated
from toposci.models.diffusion import TopoDiffusionLite
from toposci.models.topovae import TopoVAE
from toposci.training.trainer import load_run

__all__ = ["SampleReport", "sample_run"]


@dataclass
class SampleReport:
    """What ``toposci sample`` did.

    Attributes:
        n: samples drawn.
        temperature: prior scale (1 = the prior itself; always 1 for a diffusion model).
        correction: the decoding (``"none"``: raw decoder output, i.e. *without correction*).
        valid_fraction: fraction of samples passing the domain's validity check.
        validity_by_correction: the valid fraction of the same samples under each decoding the
            domain has (molecules: ``"none"`` and ``"valence"``).
        reasons: count of samples per validity reason (``"ok"`` for valid ones).
        metrics: the domain's further sample metrics (e.g. uniqueness and novelty).
        files: the files written (samples, then this report as JSON).
    """

    n: int
    temperature: float
    correction: str
    seed: int
    valid_fraction: float
    validity_by_correction: dict[str, float]
    reasons: dict[str, int]
    metrics: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def sample_run(run_dir: str | Path, n: int, out: str | Path, *, temperature: float | None = None,
               correction: str | None = None, sampler: str | None = None,
               steps: int | None = None, seed: int = 0, batch_size: int | None = None,
               device: str = "cpu", progress: bool = True) -> SampleReport:
    """Draw ``n`` samples from a run's model and write them with a JSON report.

    Args:
        run_dir: a directory made by ``toposci train``.
        n: number of samples.
        out: output file; the domain's usual format (``.smi`` molecules, ``.npz`` arrays ...).
            The report goes beside it as ``<stem>_report.json``.
        temperature, correction, batch_size: default to the recipe's ``sample`` section; a
            diffusion model takes temperature 1 only.
        sampler, steps: a diffusion model's sampler (``"ddim"`` or ``"ddpm"``) and DDIM steps;
            default: the recipe's. A TopoVAE takes neither.
        seed: seed of the prior draws (and of a diffusion sampler's noise).
        device: where to run the model.
        progress: progress bars over the batches (and a diffusion sampler's steps).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    recipe, domain, model, _ = load_run(run_dir, device=device)
    temperature = recipe.sample.temperature if temperature is None else temperature
    correction = recipe.sample.correction if correction is None else correction
    domain.check_correction(correction)
    options = {key: value for key, value in (("sampler", sampler), ("steps", steps))
               if value is not None}
    if options and not isinstance(model, TopoDiffusionLite):
        raise ValueError(f"sampler and steps apply to diffusion models only (got {options}); "
                         f"{run_dir} holds a {recipe.model.kind} run")
    batch_size = batch_size or recipe.sample.batch_size
    g = torch.Generator().manual_seed(seed)
    parts: list[Generated] = []
    for start in tqdm(range(0, n, batch_size), desc="sampling", disable=not progress):
        output = _draw(model, min(batch_size, n - start), temperature=temperature,
                       generator=g, progress=progress, options=options)
        parts.append(domain.generate(output, correction=correction))
    generated = Generated([x for p in parts for x in p.items],
                          [v for p in parts for v in p.validity], correction,
                          {name: [v for p in parts for v in p.other_corrections[name]]
                           for name in parts[0].other_corrections})
    out = Path(out)
    files = domain.write_samples(generated, out)
    report = SampleReport(n=n, temperature=temperature, correction=correction, seed=seed,
                          valid_fraction=generated.valid_fraction,
                          validity_by_correction=generated.validity_by_correction(),
                          reasons=generated.reasons(),
                          metrics=domain.sample_metrics(generated),
                          files=[str(f) for f in files])
    report_path = out.with_name(f"{out.stem}_report.json")
    report.files.append(str(report_path))
    report_path.write_text(json.dumps(asdict(report), indent=2))
    return report


def _draw(model: TopoVAE | TopoDiffusionLite, n: int, *, temperature: float,
          generator: torch.Generator, progress: bool, options: dict[str, Any]) -> Any:
    """``n`` samples as the decoder output the domain's ``generate`` takes (``options``: a
    diffusion model's sampler and steps)."""
    if isinstance(model, TopoDiffusionLite):  # its sampler's steps are worth a progress bar
        return model.sample(n, temperature=temperature, generator=generator, progress=progress,
                            **options)
    return model.sample(n, temperature=temperature, generator=generator)
