"""`python -m emutrain.cli JOB [flags]`."""

from emutrain.cli import main

main()
