"""What the system knows: the node database (experience) and, later, the cognition base (priors)."""
