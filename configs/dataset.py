"""Training on a public dataset on disk: a dataset of The Well or a PDEBench HDF5 file.

The variant string is the dataset's kind and path, optionally followed by the network and the training
method strings, and optionally by ``quick`` (a smoke-test size), separated by commas:

    python pipelines/train.py \
        '--config=configs/dataset.py:well,/data/turbulent_radiative_layer_2D,UNet;12;2;relu,sup;2' \
        --workdir=workdir/trl
    python pipelines/train.py '--config=configs/dataset.py:pdebench,/data/1D_Advection_Sols_beta0.1.hdf5' \
        --workdir=workdir/adv
    python pipelines/train.py \
        '--config=configs/dataset.py:pdebench,/data/2D_rdb_NA_NA.h5,Res;26;8;relu,one,quick' \
        --workdir=workdir/swe

(quote arguments holding ``;``). The path is a Well dataset directory (holding ``data/train``,
``data/valid``, ``data/test`` and ``stats.yaml``) or a PDEBench ``.hdf5``/``.h5`` file; relative paths are
relative to the repository. The network is built for the dataset's grid and channels, the training windows
are streamed from the train split (``emutrain.data.WellWindows``, ``emutrain.data.PDEBenchWindows``) and the
evaluation rolls out from the first states of ``config.dataset.num_test_trajectories`` trajectories of the
test split, reporting nRMSE per step and The Well's VRMSE per field (steps 1, 6-12, 13-30). The task is
``predict``: a public dataset has no solver to correct or to divert to. Other dataset fields:
``--config.dataset.dt_stride=2``, ``--config.dataset.normalization=zscore`` (the Well's ``stats.yaml``),
``--config.dataset.fields=density,velocity``, ``--config.dataset.eval_split=valid`` (the Well; PDEBench's
test split is the last tenth of the file's samples), ``--config.dataset.conditioning=True`` (the Well's
constant fields and scalars as extra, non-predicted input channels of the network).
"""

import ml_collections

from emutrain.public_datasets import PUBLIC_KINDS, parse_dataset
from emutrain.schema import default_config

NETWORK = "UNet;12;2;relu"
METHOD = "one"
QUICK_OPTIMIZER = "adam;20;warmup_cosine;0.0;1e-3;5"


def _parse_variant(variant: str | None) -> tuple[str, str, str, str, bool]:
    error = ValueError(
        f"variant must be KIND,PATH[,NETWORK[,METHOD]][,quick] with KIND in {PUBLIC_KINDS}, got {variant!r}"
    )
    tokens = [token.strip() for token in (variant or "").split(",")]
    try:
        parsed = parse_dataset(",".join(token for token in tokens if token != "quick"))
    except ValueError:
        raise error from None
    if parsed is None:
        raise error
    kind, path, rest = parsed
    quick = "quick" in tokens
    if len(rest) > 2:
        raise error
    network, method = rest + [NETWORK, METHOD][len(rest) :]
    return kind, path, network, method, quick


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The run on the dataset of `variant` (see the module docstring)."""
    kind, path, network, method, quick = _parse_variant(variant)
    config = default_config()
    config.dataset.kind = kind
    config.dataset.path = path
    config.network = network
    config.method = method
    if quick:
        config.optimizer = QUICK_OPTIMIZER
        config.train.batch_size = 4
        config.train.log_every = 5
        config.train.progress_bar = False
        config.train.tensorboard = False
        config.eval.num_steps = 2
        config.dataset.num_test_trajectories = 2
    return config
