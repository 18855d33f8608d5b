"""Studies: sweeps of scenarios x tasks x networks x methods x seeds, with tables and plots.

A study is an `ml_collections.ConfigDict` (see `configs/studies/apebench_1d.py`):

* `scenarios`, `tasks`, `networks`, `methods`: lists of APEBench 0.1.1 strings (scenario names of
  `emutrain.scenarios.make`, `predict` / `correct;MODE`, architecture strings of `emutrain.nn.from_spec`,
  method strings of `emutrain.configurations.from_method`); a `scenarios` entry may instead name a public
  dataset on disk as `configs/dataset.py` spells it, `well,PATH` (a dataset directory of The Well) or
  `pdebench,PATH` (a PDEBench HDF5 file): its runs stream that dataset's train split, predict (no solver
  to correct) and are evaluated on the first states of its test trajectories;
* `dataset`: optional `config.dataset` fields of those dataset runs (`dt_stride`, `normalization`,
  `fields`, `eval_split`, `num_test_trajectories`, `conditioning`; see `emutrain.experiment`);
* `seeds`: the network initialization seeds; all seeds of a combination are trained at once as one
  `emutrain.nn.Ensemble` (one compile, vmapped members). Member i is initialized exactly as a single run
  with `config.seed = seeds[i]` (`emutrain.experiment.build_model`); the members share the batch order and
  the configuration's RNG keys (`train.data_seed`);
* `overrides`: scenario fields applied to every scenario (e.g. `num_points`), not to datasets;
* `optimizer`: an optimizer string of `emutrain.optimizers.make_optimizer`, None for each scenario's
  `optim_config` (APEBench's default: 10,000 Adam steps, warm-up cosine to 1e-3);
* `train`: `num_steps` (None: from the optimizer string), `batch_size` (None: the scenario's; 0 is refused),
  `data_seed`, `log_every` (loss record cadence, None: the scenario's `record_loss_every`),
  `checkpoint_every`, `tensorboard`, `progress_bar`;
* `eval`: `num_steps` (None: the scenario's `test_temporal_horizon`), `gmean_num_steps` (100),
  `batch_size`;
* `ref_stepper`, `dataset_dir`, `data_format`: as in `emutrain.experiment` (the datasets default to
  `<workdir>/datasets`, generated once per scenario);
* `plots`: draw the figures when the study ends (default True);
* `claim_timeout_s`: seconds without a heartbeat after which a worker's claim is taken over (300);
* `submitit`: the executor parameters of `submit_workers` (`timeout_min`, `slurm_partition`, ...).

Every combination runs in its own directory `<workdir>/runs/<name>` (checkpoints, TensorBoard events, its
tables); a `DONE` file written after a run's outputs marks it finished. Running the study again skips
finished runs and resumes an interrupted one from its latest checkpoint (a finished or interrupted run
whose settings or seeds changed raises instead).

Any number of workers (processes started with the same config and workdir: a SLURM array, one process
per GPU, `submit_workers`) divide the combinations: each claims one at a time (`emutrain.study.claims`:
a claim file in `<workdir>/claims` created exclusively, with a heartbeat), a claim whose heartbeat is
older than `claim_timeout_s` (default 300 s) is taken over and its run resumes from its checkpoint, and a
worker whose every pending combination is claimed waits for them. One worker generates each scenario's
datasets while the others wait for them.

After each run the study tables are rebuilt from the finished runs, so they are readable while a study
is still going; the worker that finishes the last combination rebuilds them with the plots
(`rebuild_tables` does it on demand):

* `metrics.csv`: scenario, task, network, method, seed, step, metric, value: `mean_nRMSE` and
  `mean_correlation` (means over the test trajectories) at every test step 1..H;
* `losses.csv`: scenario, task, network, method, seed, step, loss: the training loss averaged over the
  `log_every` steps ending at `step`;
* `summary.csv`: per run and seed: `gmean_nrmse` (geometric mean of `mean_nRMSE` over steps
  1..min(100, H)), `final_loss` (the last `losses.csv` value), `num_params` (one member), `train_time_s`
  (wall time of the ensemble's training, shared by its seeds, compilation included; after a resume the
  steps redone since the last checkpoint are not counted twice), `steps_per_second`
  (`num_steps / train_time_s`), `num_steps`, `num_seeds`;
* `summary.md`: the same as a Markdown table, mean and [min, max] over seeds;
* `plots/`: nRMSE over time per scenario (seed mean, seed range as a band) and the gmean nRMSE per run
  (bars, log scale), as PNG and as TensorBoard images.

The CSVs are plain text, readable by pandas without emutrain; `load` (which imports pandas, extra
`study`) reads them, `aggregate_seeds` and `relative_to` make the usual comparisons. Only process 0
writes files.

Each combination is one experiment of `emutrain.experiment` (`run_config`: the schema of
`emutrain.schema`, validated and resolved as a single run is), built and trained with its builders. The
package is split by concern: `plan` (combinations and their configs), `claims` (the workers' claim
protocol), `execute` (training and evaluation), `submit` (workers through submitit), `tables` (CSV and
Markdown tables, pandas helpers) and `plots`.
"""

from emutrain.study.execute import (
    build_ensemble,
    check_study,
    claim_timeout,
    rebuild_tables,
    run_study,
    run_worker,
)
from emutrain.study.plan import KEYS, Run, run_config, runs
from emutrain.study.plots import plot_gmean_bars, plot_nrmse_over_time
from emutrain.study.submit import check_workers, submit_workers
from emutrain.study.tables import METRICS, TABLES, aggregate_seeds, collect, load, relative_to

__all__ = [
    "KEYS",
    "METRICS",
    "TABLES",
    "Run",
    "aggregate_seeds",
    "build_ensemble",
    "check_study",
    "check_workers",
    "claim_timeout",
    "collect",
    "load",
    "plot_gmean_bars",
    "plot_nrmse_over_time",
    "rebuild_tables",
    "relative_to",
    "run_config",
    "run_study",
    "run_worker",
    "runs",
    "submit_workers",
]
