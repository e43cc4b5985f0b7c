"""Typed recipe configs: YAML in, dataclasses out, and an error for every key that is not known.

A recipe has a ``name``, a ``domain`` and six sections. ``data``, ``model.encoder`` and
``model.decoder`` are typed by the domain's option dataclasses; the rest by the classes below.
Values are checked against the annotated types (an int where a float is expected is accepted,
nothing else is converted), so a typo or a wrong type fails when the recipe is read, not an
hour into training. So do combinations that cannot train: a diffusion model with a latent-mode
regularizer or a sampling temperature, a domain without a tensor form under plain diffusion,
latent diffusion without the TopoVAE run it diffuses in.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from toposci.domains.base import GenerativeDomain, get_domain
from toposci.models.diffusion import SAMPLERS
from toposci.models.schedules import SCHEDULES

__all__ = ["DISTRIBUTED_TOPOLOGY", "MODEL_KINDS", "DiffusionConfig", "ModelConfig", "Recipe",
           "RegularizerConfig", "SampleConfig", "TrainConfig", "apply_overrides",
           "build_dataclass", "load_recipe", "recipe_from_dict"]

ModelKind = Literal["vae", "diffusion", "latent_diffusion"]
MODEL_KINDS: tuple[str, ...] = typing.get_args(ModelKind)


@dataclass
class DiffusionConfig:
    """TopoDiffusionLite (``model.kind`` diffusion or latent_diffusion; a TopoVAE ignores it).

    Attributes:
        schedule: ``"cosine"`` or ``"linear"`` noise schedule.
        timesteps: ``T``, the number of noise levels.
        topo_batch: samples in the topological term's random sub-batch.
        topo_min_snr: the topological term uses the steps whose signal-to-noise ratio is at
            least this (1: the low-noise half, where predicted samples are sharp).
        sampler: ``"ddim"`` or ``"ddpm"`` (the one ``toposci sample`` uses).
        sample_steps: DDIM steps (None: ``min(50, T)``).
        eta: DDIM noise scale (0: deterministic given the initial noise).
        clip: clamp predicted clean samples to ``[-clip, clip]`` while sampling (images, scaled
            to ``[-1, 1]``: 1, as Ho et al. do; other data: a bound on their values); None: no
            clamp. The ancestral sampler needs it: its first step, where the cosine schedule's
            ``beta`` is capped at 0.999 (``abar`` 2.4e-9 at ``T = 1000``), multiplies the noise
            estimate's error by about 30. DDIM never visits that step (:func:`ddim_steps`).
        hidden: widths of the MLP denoiser (vector samples: points, protein fragments, codes).
        channels: widths of the U-Net denoiser (images).
        time_dim: width of the step embedding.
        vae_run: latent_diffusion only: the run directory of the trained TopoVAE whose codes
            are diffused (``toposci train`` of a TopoVAE recipe of the same domain). A relative
            path is read from the current directory, like data paths, and kept resolved.
    """

    schedule: str = "cosine"
    timesteps: int = 1000
    topo_batch: int = 64
    topo_min_snr: float = 1.0
    sampler: str = "ddim"
    sample_steps: int | None = None
    eta: float = 0.0
    clip: float | None = None
    hidden: tuple[int, ...] = (256, 256, 256)
    channels: tuple[int, ...] = (32, 64)
    time_dim: int = 128
    vae_run: str | None = None


@dataclass
class ModelConfig:
    """The generative model: its kind, loss weights and network sizes.

    Attributes:
        kind: ``"vae"`` (TopoVAE), ``"diffusion"`` (TopoDiffusionLite on the domain's tensor
            form: points, protein fragments, images) or ``"latent_diffusion"``
            (TopoDiffusionLite over the codes of a trained TopoVAE, decoded by its decoder:
            molecules, social graphs).
        latent_dim, beta, encoder, decoder: the TopoVAE's latent size, KL weight (1 = VAE,
            other values = β-VAE) and the domain's ``EncoderOptions`` / ``DecoderOptions``;
            unused by the diffusion kinds.
        gamma: weight of the topological term (0 = no term), every kind.
        diffusion: the diffusion model; unused by a TopoVAE.
    """

    kind: ModelKind = "vae"
    latent_dim: int = 32
    beta: float = 1.0
    gamma: float = 0.0
    encoder: Any = None
    decoder: Any = None
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


@dataclass
class RegularizerConfig:
    """The :class:`~toposci.topology.TopoRegularizer` and its frozen projection.

    Attributes:
        mode: ``"latent"`` (proposal A) or ``"reconstruction"`` (proposal B).
        homology_weights: ``{dim: weight}`` (the λ_i of proposal A).
        projection: ``"none"`` (compare the domain's views as they are) or ``"autoencoder"``
            (proposal B's initial autoencoder: an MLP autoencoder is trained on the data views
            first, its encoder then frozen).
        projection_dim, projection_epochs: its code size and training epochs.
    """

    mode: str = "latent"
    homology_weights: dict[int, float] = field(default_factory=lambda: {0: 1.0, 1: 1.0})
    filtration: str = "rips"
    k: int = 8
    vectorization: str = "landscape"
    num_landscapes: int = 5
    resolution: int = 100
    normalize: bool = True
    backend: str = "native"
    projection: str = "none"
    projection_dim: int = 16
    projection_epochs: int = 5


DistributedTopology = Literal["local", "gather"]
DISTRIBUTED_TOPOLOGY: tuple[str, ...] = typing.get_args(DistributedTopology)


@dataclass
class TrainConfig:
    """The optimisation.

    Attributes:
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
        kl_warmup_epochs: β rises linearly from 0, step by step, over this many epochs.
        max_steps_per_epoch: cap on batches per epoch (None = the whole training set).
        threads: torch CPU threads (None = torch's default).
        time_budget_minutes: stop before an epoch that would end past this budget (measured
            from the start of this call, judged by the last epoch's duration); None = no limit.
        distributed_topology: under ``torchrun``, the topological term of each process's local
            batch (``"local"``, no communication) or of the global batch (``"gather"``: the
            regularizer's inputs are all-gathered, and the update equals the single-process
            one). No effect in a single process. ``batch_size`` is the global batch either way.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 10.0
    seed: int = 0
    device: str = "auto"
    kl_warmup_epochs: int = 0
    max_steps_per_epoch: int | None = None
    val_batches: int | None = 20
    threads: int | None = None
    time_budget_minutes: float | None = None
    distributed_topology: DistributedTopology = "local"


@dataclass
class SampleConfig:
    """Sampling after training (and the defaults of ``toposci sample``)."""

    n: int = 1000
    temperature: float = 1.0
    correction: str = "none"
    batch_size: int = 1000


@dataclass
class Recipe:
    name: str
    domain: str
    data: Any
    model: ModelConfig
    regularizer: RegularizerConfig
    train: TrainConfig
    sample: SampleConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), ready for YAML."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- building


def build_dataclass(cls: type, values: Mapping[str, Any] | None, where: str) -> Any:
    """An instance of dataclass ``cls`` from a mapping, checking names and types.

    Raises:
        ValueError: an unknown key (with the closest known one), a missing required key or a
            value of the wrong type, each naming its dotted path ``where.key``.
    """
    values = {} if values is None else values
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown key {where}.{key}{hint} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            kwargs[name] = _check_type(values[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"missing required key {where}.{name}")
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            raise ValueError(f"{where} must be one of {', '.join(map(repr, args))}, got "
                             f"{value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check_type(value, option, where)
            except ValueError:
                continue
        raise ValueError(f"{where}: {value!r} is none of {_name(hint)}")
    if hint is type(None):
        if value is not None:
            raise ValueError(f"{where} must be null, got {value!r}")
        return None
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, where)
    if origin is tuple or origin is list:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else Any
        items = [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        key_type, value_type = args
        return {_check_type(k, key_type, f"{where} key"): _check_type(v, value_type, f"{where}."
                                                                         f"{k}")
                for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ValueError(f"{where} must be {hint.__name__}, got {value!r}")
        return value
    raise ValueError(f"{where}: unsupported type {_name(hint)} in a config class")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def recipe_from_dict(raw: Mapping[str, Any], *, where: str = "recipe") -> Recipe:
    """Build and check a :class:`Recipe`; the domain's classes type its own sections."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a mapping at the top level")
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(raw) - known)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown key {where}.{unknown[0]}{hint} (known: {', '.join(known)})")
    for key in ("name", "domain"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"{where}.{key} must be given as a string")
    domain = get_domain(raw["domain"])
    model_raw = dict(raw.get("model") or {})
    encoder = build_dataclass(domain.EncoderOptions, model_raw.pop("encoder", None),
                              f"{where}.model.encoder")
    decoder = build_dataclass(domain.DecoderOptions, model_raw.pop("decoder", None),
                              f"{where}.model.decoder")
    model = build_dataclass(ModelConfig, model_raw, f"{where}.model")
    model.encoder, model.decoder = encoder, decoder
    recipe = Recipe(
        name=raw["name"], domain=raw["domain"],
        data=build_dataclass(domain.DataOptions, raw.get("data"), f"{where}.data"),
        model=model,
        regularizer=build_dataclass(RegularizerConfig, raw.get("regularizer"),
                                    f"{where}.regularizer"),
        train=build_dataclass(TrainConfig, raw.get("train"), f"{where}.train"),
        sample=build_dataclass(SampleConfig, raw.get("sample"), f"{where}.sample"),
    )
    _check_model_kind(recipe, domain, where)
    return recipe


def _check_model_kind(recipe: Recipe, domain: type[GenerativeDomain], where: str) -> None:
    """Refuse what the model kind cannot train; resolve ``model.diffusion.vae_run``."""
    kind, diffusion = recipe.model.kind, recipe.model.diffusion
    if diffusion.vae_run is not None:
        if kind != "latent_diffusion":
            raise ValueError(f"{where}.model.diffusion.vae_run is set but model.kind is "
                             f"{kind!r}; latent diffusion needs model.kind: latent_diffusion")
        diffusion.vae_run = str(Path(diffusion.vae_run).resolve())
    if kind == "vae":
        return
    if recipe.regularizer.mode != "reconstruction":
        raise ValueError(f"{where}: a diffusion model compares data with its predicted clean "
                         "samples, so it needs regularizer.mode: reconstruction, got "
                         f"{recipe.regularizer.mode!r}")
    if recipe.sample.temperature != 1.0:
        raise ValueError(f"{where}.sample.temperature must be 1.0 for a diffusion model (it has "
                         f"no prior temperature), got {recipe.sample.temperature}")
    for name, valid in (("schedule", SCHEDULES), ("sampler", SAMPLERS)):
        if getattr(diffusion, name) not in valid:
            raise ValueError(f"unknown {where}.model.diffusion.{name} "
                             f"{getattr(diffusion, name)!r}; valid: {', '.join(valid)}")
    if kind == "diffusion" and domain.to_tensor is GenerativeDomain.to_tensor:
        raise ValueError(f"{where}: the {domain.name} domain has no tensor form to diffuse; use "
                         "model.kind: latent_diffusion (diffusion over a trained TopoVAE's "
                         "codes, model.diffusion.vae_run)")
    if kind == "latent_diffusion" and diffusion.vae_run is None:
        raise ValueError(f"{where}: model.kind latent_diffusion needs "
                         "model.diffusion.vae_run, the run directory of a trained TopoVAE of "
                         f"the {domain.name} domain (made by `toposci train`)")


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of a raw recipe with ``key.sub=value`` overrides (values parsed as YAML).

    Raises:
        ValueError: an override without ``=`` or one that descends into a non-mapping.
    """
    out = _deep_copy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key.subkey=value")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text)
    return out


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML file, apply ``--set`` overrides and check everything."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recipe file {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    return recipe_from_dict(apply_overrides(raw or {}, overrides), where=path.name)
