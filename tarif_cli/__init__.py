"""The `tarif` command: it sits above the processes and starts them."""
