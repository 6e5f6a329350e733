"""The LangGraph state machine of the research loop and its entry points (CLI, Python)."""
