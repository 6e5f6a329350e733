"""The model plumbing: specs and providers, the run's client, ensemble, ledger, prices, prompts and replies."""
