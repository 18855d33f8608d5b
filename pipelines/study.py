"""Runs a study and writes its tables and plots: `python pipelines/study.py
--config=configs/studies/apebench_1d.py[:quick] --workdir=DIR`, the same as `emutrain study`
(see `emutrain.cli`)."""

import sys

from emutrain.cli import main

if __name__ == "__main__":
    main([sys.argv[0], "study", *sys.argv[1:]])
