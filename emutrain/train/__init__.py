"""The sharded, Orbax-checkpointed Trainer (CLU metrics on device, its own TensorBoard writer), its periodic
hooks and its parts."""

from emutrain.train.callbacks import GradientNorm, LossOnData, SaveModel, WeightNorm, load_params
from emutrain.train.checkpoint import Checkpointer
from emutrain.train.console import ConsoleHook
from emutrain.train.distributed import initialize_distributed
from emutrain.train.hooks import (
    CheckpointHook,
    EvalHook,
    Hook,
    HookContext,
    LogHook,
    NonFiniteError,
    ProfileHook,
    ProgressBarHook,
    ProgressHook,
)
from emutrain.train.lock import WorkdirLockedError, workdir_lock
from emutrain.train.mesh import ProcessShare, make_mesh, process_share, spatially_sharded
from emutrain.train.metrics import TrainMetrics
from emutrain.train.outputs import RunConfigHook
from emutrain.train.sharding import make_data_mesh
from emutrain.train.state import TrainState
from emutrain.train.step import LiveState, TrainStep
from emutrain.train.trainer import FitResult, Trainer

__all__ = [
    "CheckpointHook",
    "Checkpointer",
    "ConsoleHook",
    "EvalHook",
    "FitResult",
    "GradientNorm",
    "Hook",
    "HookContext",
    "LiveState",
    "LogHook",
    "LossOnData",
    "NonFiniteError",
    "ProfileHook",
    "ProgressBarHook",
    "ProcessShare",
    "ProgressHook",
    "RunConfigHook",
    "SaveModel",
    "TrainMetrics",
    "TrainState",
    "TrainStep",
    "Trainer",
    "WeightNorm",
    "WorkdirLockedError",
    "initialize_distributed",
    "load_params",
    "make_data_mesh",
    "make_mesh",
    "process_share",
    "spatially_sharded",
    "workdir_lock",
]
