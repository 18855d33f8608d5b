"""Correction learning on 1D advection: five runs comparing predictors with correctors of a coarse solver.

The data, solvers and optimizer are those of `configs/default.py` (reference gamma -6.5 on N = 48,
coarse solver gamma -3.25, 40 train trajectories x 50 steps, 30 test trajectories x 200 steps, ResNet
32 channels, Adam 3e-4, batch 16); each run changes only the network (`Res;32;B;relu`), the task
(`predict` or `correct;sequential`) and the method (`one`, `sup;3`, `div;3`):

* `predictor_2blocks`: a 2-block ResNet predicts the next state alone (one-step supervised). Its
  receptive field (4 cells to each side) is shorter than the 6.5 cells the state moves per step.
* `predictor_4blocks`: the same with 4 blocks (8 cells).
* `corrector_one_step`: `SequentialCorrector(coarse, 2-block ResNet)`, one-step supervised. The coarse
  solver already moves the state 3.25 cells, so the network only has to cover the rest.
* `corrector_rollout`: the same corrector with a 3-step supervised rollout (differentiable physics:
  the gradient runs through the coarse solver between the steps). This is `configs/default.py`.
* `corrector_diverted`: the same corrector with `DivertedChainBranchOne(3)`: the corrector runs 3
  steps from each initial condition and every step is compared with one step of the reference solver
  branched off the corrector's own state (the ref_stepper is the reference solver, whose gradient is
  kept). The gradient of the main chain runs through the coarse solver inside the corrector. The
  coarse solver is deliberately not the ref_stepper: it would make the targets the coarse solver's own
  steps, so the best corrector would reproduce the coarse solver and its error against the reference
  (`ref_stepper = "coarse"` selects that setting if wanted).

Every run trains 20,000 steps and evaluates 200-step rollouts of the test set. The variant is a run
name, optionally followed by `,quick` for a smoke run (fewer samples, a narrower network, 40 steps):

    python pipelines/train.py --config=configs/correction_learning.py:corrector_one_step \
        --workdir=workdir/correction_learning/corrector_one_step
    python pipelines/train.py --config=configs/correction_learning.py:predictor_2blocks,quick \
        --workdir=workdir/quick_predictor

`colab/01_correction_learning.ipynb` trains all five with `emutrain.experiment.train_and_evaluate` and
plots their error curves (`EMUTRAIN_QUICK=1` selects the quick variants).
"""

import ml_collections

from emutrain.config_files import load_config, run_variant

# run -> (num_blocks, task, method)
RUNS = {
    "predictor_2blocks": (2, "predict", "one"),
    "predictor_4blocks": (4, "predict", "one"),
    "corrector_one_step": (2, "correct;sequential", "one"),
    "corrector_rollout": (2, "correct;sequential", "sup;3"),
    "corrector_diverted": (2, "correct;sequential", "div;3"),
}


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """One run of the study: `variant` is `"<run>"` or `"<run>,quick"` with `<run>` a key of `RUNS`
    (`None`, `""` or `"quick"` alone: `corrector_rollout`)."""
    run, quick = run_variant(variant, sorted(RUNS), default="corrector_rollout")
    num_blocks, task, method = RUNS[run]

    config = load_config("default", "quick" if quick else None)
    width = config.network.split(";")[1]  # 32; 8 in the quick variant
    config.network = f"Res;{width};{num_blocks};relu"
    config.task = task
    config.method = method
    if quick:
        # one evaluation and one checkpoint at the end; a larger step so 40 steps visibly learn
        config.train.checkpoint_every = config.train.num_steps
        config.eval.every = config.train.num_steps
        config.scenario.overrides.optim_config = "adam;40;constant;1e-3"
        config.train.tensorboard = False
        config.train.progress_bar = False
    else:
        config.train.num_steps = 20_000
        config.train.checkpoint_every = 5_000
        config.eval.every = 5_000
    return config
