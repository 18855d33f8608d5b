"""The CLU-metered, sharded, Orbax-checkpointed Trainer and its parts."""

from emutrain.train.callbacks import Callback, GradientNorm, LossOnData, SaveModel, WeightNorm, load_params
from emutrain.train.checkpoint import Checkpointer
from emutrain.train.experiment import (
    build_coarse,
    build_configuration,
    build_model,
    build_ref_stepper,
    build_reference,
    build_trajectories,
    restore_model,
    train_and_evaluate,
)
from emutrain.train.metrics import TrainMetrics
from emutrain.train.sharding import initialize_distributed, make_data_mesh
from emutrain.train.state import TrainState
from emutrain.train.step import make_train_step
from emutrain.train.trainer import FitResult, NonFiniteError, Trainer

__all__ = [
    "Callback",
    "Checkpointer",
    "FitResult",
    "GradientNorm",
    "LossOnData",
    "NonFiniteError",
    "SaveModel",
    "TrainMetrics",
    "TrainState",
    "Trainer",
    "WeightNorm",
    "build_coarse",
    "build_configuration",
    "build_model",
    "build_ref_stepper",
    "build_reference",
    "build_trajectories",
    "initialize_distributed",
    "load_params",
    "make_data_mesh",
    "make_train_step",
    "restore_model",
    "train_and_evaluate",
]
