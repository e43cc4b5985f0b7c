"""Training from recipes: typed configs, the resumable training loop, sampling from runs.

``toposci train recipes/X.yaml`` and ``toposci sample RUN_DIR`` are thin wrappers of
:func:`train` and :func:`sample_run`.
"""

from toposci.training.config import Recipe, load_recipe, recipe_from_dict
from toposci.training.sampling import SampleReport, sample_run
from toposci.training.trainer import TrainResult, build_model, load_run, train

__all__ = ["Recipe", "SampleReport", "TrainResult", "build_model", "load_recipe", "load_run",
           "recipe_from_dict", "sample_run", "train"]
