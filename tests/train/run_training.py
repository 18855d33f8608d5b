"""Subprocess entry of the train tests: trains the tiny problem and writes the per-step losses as JSON.

Usage: python run_training.py OUT_JSON NUM_STEPS [--workdir DIR] [--kill-at-step S]
       [--kill-in-checkpoint S] [--sigterm-at-step S] [--batch-size B]
--kill-at-step S: SIGKILL itself right after step S, once earlier checkpoint writes have committed
  (before step S's own checkpoint, if any, is written).
--kill-in-checkpoint S: SIGKILL itself right after the async checkpoint write of step S has started
  (earlier writes committed first, so the previous checkpoint is complete).
--sigterm-at-step S: send itself SIGTERM after step S (from a hook, so the dispatch of step S + 1 is
  the one in progress when the run notices it).
"""

import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import train_tiny as tiny  # noqa: E402

from emutrain.train import Hook, Trainer, checkpoint  # noqa: E402


class KillAt(Hook):
    """Sends `sig` to the process at `step`; before a SIGKILL, earlier checkpoint writes commit (user
    hooks run before the checkpoint hook of the same step)."""

    def __init__(self, step, sig=signal.SIGKILL):
        super().__init__(every_steps=1)
        self.step, self.sig = step, sig

    def __call__(self, step, context):
        if step == self.step:
            if self.sig == signal.SIGKILL:
                context.checkpointer.wait()
            os.kill(os.getpid(), self.sig)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("num_steps", type=int)
    parser.add_argument("--workdir")
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--kill-in-checkpoint", type=int)
    parser.add_argument("--sigterm-at-step", type=int)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if args.kill_in_checkpoint is not None:
        save = checkpoint.Checkpointer.save

        def save_then_die(self, state, **kwargs):
            if int(state.step) == args.kill_in_checkpoint:
                self.wait()
            save(self, state, **kwargs)
            if int(state.step) == args.kill_in_checkpoint:
                os.kill(os.getpid(), signal.SIGKILL)

        checkpoint.Checkpointer.save = save_then_die
    kill = None if args.kill_at_step is None else KillAt(args.kill_at_step)
    if args.sigterm_at_step is not None:
        kill = KillAt(args.sigterm_at_step, signal.SIGTERM)
    trainer = Trainer(
        tiny.configuration(), tiny.optimizer(), workdir=args.workdir, checkpoint_every=4,
        log_every=2, hooks=() if kill is None else (kill,), tensorboard=False, progress_bar=False,
    )
    try:
        result = trainer.fit(tiny.model(), tiny.loader(args.batch_size), num_steps=args.num_steps)
        report = {"devices": jax.device_count(), "losses": result.losses.tolist(),
                  "first_step": result.first_step, "preempted": result.preempted,
                  "last_step": int(result.state.step)}
    except ValueError as error:
        report = {"devices": jax.device_count(), "error": str(error)}
    with open(args.out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
