"""Built-in research tasks (one folder each) and the task loader."""
