"""Entry point of the store's writer process (``python -m polyarb.store.writer_main``)."""

from polyarb.store.writer_process import main

main()
