"""Orbax checkpoints of a run: train state, Grain iterator position and config, one directory per step."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

from emutrain.train.state import TrainState


def abstract_like(tree: Any) -> Any:
    """A restore template: `ShapeDtypeStruct`s carrying each leaf's current sharding, so a restore lands
    on the current mesh (possibly a different device count than the run that saved)."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree
    )


class Checkpointer:
    """Async Orbax checkpoints under `directory` (`<directory>/<step>/{state,data_iter,config}`).

    Args:
      directory: where step directories go; created if missing.
      max_to_keep: how many checkpoints to keep (None: all).
      best_metric: if given, keep the `max_to_keep` checkpoints best by this metric (passed to `save`)
        instead of the latest ones.
      best_mode: `"min"` or `"max"` for `best_metric`.

    A directory only becomes a checkpoint once all its writes have finished (Orbax writes into a
    temporary directory and renames it), so a process killed mid-write leaves the previous one latest.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        max_to_keep: int | None = 3,
        best_metric: str | None = None,
        best_mode: str = "min",
    ):
        if best_mode not in ("min", "max"):
            raise ValueError(f"best_mode must be 'min' or 'max', got {best_mode!r}")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 or None, got {max_to_keep}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.best_metric = best_metric
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            best_fn=(lambda metrics: float(metrics[best_metric])) if best_metric else None,
            best_mode=best_mode,
            enable_async_checkpointing=True,
            cleanup_tmp_directories=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint, or None."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(
        self,
        state: TrainState,
        *,
        data_iter: Any = None,
        config: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Starts an async save of `state` (and the Grain iterator's position and the JSON config) at
        `state.step`; returns once the arrays are copied off the device."""
        items = {"state": ocp.args.StandardSave(state)}
        if data_iter is not None:
            items["data_iter"] = grain.checkpoint.CheckpointSave(data_iter)
        if config is not None:
            items["config"] = ocp.args.JsonSave(dict(config))
        step = int(jax.device_get(state.step))
        self.manager.save(
            step, args=ocp.args.Composite(**items), metrics=dict(metrics) if metrics else None,
            force=True,
        )

    def restore(
        self, template: TrainState, *, data_iter: Any = None, step: int | None = None
    ) -> TrainState:
        """Restores the state saved at `step` (default: latest) onto `template`'s shapes and shardings,
        and moves `data_iter` (a Grain iterator) to the saved position in place."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"no complete checkpoint in {self.directory}")
        items = {"state": ocp.args.StandardRestore(abstract_like(template))}
        if data_iter is not None:
            items["data_iter"] = grain.checkpoint.CheckpointRestore(data_iter)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored["state"]

    def restore_config(self, step: int | None = None) -> dict[str, Any]:
        """The JSON config saved with the checkpoint at `step` (default: latest)."""
        step = self.latest_step() if step is None else step
        return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))[
            "config"
        ]

    def wait(self) -> None:
        """Blocks until pending async saves are committed."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
