"""Typed recipe configs: YAML in, dataclasses out, and an error for every key that is not known.

A recipe has a ``name``, a ``domain`` and six sections. ``data``, ``model.encoder`` and
``model.decoder`` are typed by the domain's option dataclasses; the rest by the classes below.
Values are checked against the annotated types (an int where a float is expected is accepted,
nothing else is converted), so a typo or a wrong type fails when the recipe is read, not an
hour into training.
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

from toposci.domains.base import get_domain

__all__ = ["DISTRIBUTED_TOPOLOGY", "ModelConfig", "Recipe", "RegularizerConfig", "SampleConfig",
           "TrainConfig", "apply_overrides", "build_dataclass", "load_recipe", "recipe_from_dict"]


@dataclass
class ModelConfig:
    """The TopoVAE: latent size, loss weights and the domain's network sizes.

    Attributes:
        encoder, decoder: the domain's ``EncoderOptions`` / ``DecoderOptions``.
        beta: KL weight (1 = VAE, other values = β-VAE).
        gamma: weight of the topological term (0 = no term).
    """

    latent_dim: int = 32
    beta: float = 1.0
    gamma: float = 0.0
    encoder: Any = None
    decoder: Any = None


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
    return Recipe(
        name=raw["name"], domain=raw["domain"],
        data=build_dataclass(domain.DataOptions, raw.get("data"), f"{where}.data"),
        model=model,
        regularizer=build_dataclass(RegularizerConfig, raw.get("regularizer"),
                                    f"{where}.regularizer"),
        train=build_dataclass(TrainConfig, raw.get("train"), f"{where}.train"),
        sample=build_dataclass(SampleConfig, raw.get("sample"), f"{where}.sample"),
    )


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
