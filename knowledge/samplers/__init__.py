"""Stateful parent samplers, one module per strategy; `knowledge.sampling` holds the protocol and registry."""
