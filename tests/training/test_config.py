"""Recipes: typed, strict (unknown key = error), overridable from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from toposci.domains.generative.molecules import MoleculeData, MoleculeEncoderOptions
from toposci.training.config import apply_overrides, load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[2]


def _raw() -> dict:
    return {"name": "t", "domain": "synthetic", "data": {"space": "circle", "n": 100},
            "model": {"latent_dim": 2, "encoder": {"hidden": [8, 8]}}}


def test_sections_are_typed_by_the_domain_and_defaults_fill_the_rest() -> None:
    recipe = recipe_from_dict(_raw())
    assert recipe.data.space == "circle" and recipe.data.n == 100 and recipe.data.noise == 0.05
    assert recipe.model.encoder.hidden == (8, 8)  # a list in YAML, a tuple in the dataclass
    assert recipe.model.decoder.hidden == (128, 128)
    assert recipe.train.batch_size == 128 and recipe.regularizer.mode == "latent"
    assert recipe.to_dict()["model"]["encoder"]["hidden"] == [8, 8]
    assert recipe_from_dict(recipe.to_dict()) == recipe  # the resolved config reads back


@pytest.mark.parametrize(("path", "value", "message"), [
    (("train", "epoch"), 3, r"unknown key recipe\.train\.epoch; did you mean 'epochs'"),
    (("model", "encoder", "hiden"), [4], r"recipe\.model\.encoder\.hiden"),
    (("data", "n"), "many", r"recipe\.data\.n must be int"),
    (("train", "lr"), True, r"recipe\.train\.lr must be a number"),
    (("model", "encoder", "hidden"), [4, "x"], r"hidden\[1\] must be int"),
    (("regularizer", "homology_weights"), {"zero": 1.0}, r"homology_weights key must be int"),
])
def test_unknown_keys_and_wrong_types_name_the_path(path, value, message) -> None:
    raw = _raw()
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        recipe_from_dict(raw)


def test_unknown_domain_and_top_level_key() -> None:
    with pytest.raises(ValueError, match="unknown domain 'chemistry'"):
        recipe_from_dict({**_raw(), "domain": "chemistry"})
    with pytest.raises(ValueError, match=r"unknown key recipe\.trian; did you mean 'train'"):
        recipe_from_dict({**_raw(), "trian": {}})


def test_overrides_parse_yaml_values_and_are_checked() -> None:
    raw = apply_overrides(_raw(), ["model.gamma=0.5", "train.grad_clip=null",
                                   "model.encoder.hidden=[4, 4]"])
    recipe = recipe_from_dict(raw)
    assert recipe.model.gamma == 0.5 and recipe.train.grad_clip is None
    assert recipe.model.encoder.hidden == (4, 4)
    assert _raw()["model"] == {"latent_dim": 2, "encoder": {"hidden": [8, 8]}}  # not mutated
    with pytest.raises(ValueError, match=r"key\.subkey=value"):
        apply_overrides(_raw(), ["model.gamma"])
    with pytest.raises(ValueError, match="unknown key"):
        recipe_from_dict(apply_overrides(_raw(), ["train.bach_size=3"]))


def test_a_fifth_domain_is_named_by_module_path() -> None:
    raw = {**_raw(), "domain": "toposci.domains.generative.synthetic:SyntheticDomain"}
    assert recipe_from_dict(raw).data.space == "circle"
    with pytest.raises(ValueError, match="not a GenerativeDomain"):
        recipe_from_dict({**_raw(), "domain": "toposci.nn.mlp:MLP"})


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_reads(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name and recipe.train.epochs >= 1


def test_molecule_recipe_types() -> None:
    recipe = load_recipe(REPO / "recipes" / "qm9_demo.yaml")
    assert isinstance(recipe.data, MoleculeData) and isinstance(recipe.model.encoder,
                                                                MoleculeEncoderOptions)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_recipe(bad)


# --------------------------------------------------------------------------- model kinds


def _diffusion(**model) -> dict:
    return {**_raw(), "model": {"kind": "diffusion", **model},
            "regularizer": {"mode": "reconstruction"}}


def test_diffusion_sections_are_typed_and_read_back() -> None:
    recipe = recipe_from_dict(_diffusion(gamma=0.5, diffusion={"timesteps": 50,
                                                               "hidden": [8, 8]}))
    assert recipe.model.kind == "diffusion" and recipe.model.diffusion.hidden == (8, 8)
    assert recipe.model.diffusion.schedule == "cosine" and recipe.model.diffusion.vae_run is None
    assert recipe_from_dict(recipe.to_dict()) == recipe
    assert recipe_from_dict(_raw()).model.kind == "vae"  # the default
    with pytest.raises(ValueError, match=r"recipe\.model\.diffusion\.timestep; did you mean"):
        recipe_from_dict(_diffusion(diffusion={"timestep": 50}))


@pytest.mark.parametrize(("raw", "message"), [
    ({**_raw(), "model": {"kind": "gan"}},
     r"model\.kind must be one of 'vae', 'diffusion', 'latent_diffusion', got 'gan'"),
    ({**_diffusion(), "regularizer": {"mode": "latent"}}, "needs regularizer.mode: reconstruction"),
    ({**_diffusion(), "sample": {"temperature": 0.8}}, r"temperature must be 1\.0"),
    (_diffusion(diffusion={"schedule": "quadratic"}), "valid: linear, cosine"),
    (_diffusion(diffusion={"sampler": "euler"}), "valid: ddpm, ddim"),
    (_diffusion(kind="latent_diffusion"), "needs model.diffusion.vae_run"),
    (_diffusion(diffusion={"vae_run": "runs/vae"}), "vae_run is set but model.kind is"),
    ({**_raw(), "model": {"diffusion": {"vae_run": "runs/vae"}}}, "kind: latent_diffusion"),
    ({**_diffusion(), "domain": "molecules", "data": {}}, "no tensor form"),
])
def test_model_kinds_refuse_what_they_cannot_train(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        recipe_from_dict(raw)


def test_vae_run_is_read_from_the_current_directory(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recipe = recipe_from_dict(_diffusion(kind="latent_diffusion",
                                         diffusion={"vae_run": "runs/../runs/vae"}))
    assert recipe.model.diffusion.vae_run == str(tmp_path.resolve() / "runs" / "vae")
    assert recipe_from_dict(recipe.to_dict()) == recipe  # stored resolved


def test_latent_diffusion_demo_names_the_demo_vae_run() -> None:
    recipe = load_recipe(REPO / "recipes" / "qm9_latent_diffusion_demo.yaml")
    assert recipe.model.kind == "latent_diffusion"
    assert Path(recipe.model.diffusion.vae_run).parts[-3:] == ("runs", "demo", "qm9-topovae")
