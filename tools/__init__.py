"""What the Engineer runs: edit application, the sandbox and experiment launchers."""
