"""Entry point of `polyarb run`'s dashboard process (``python -m polyarb.cli.dashboard_main``)."""

from polyarb.cli.dashboard_process import main

main()
