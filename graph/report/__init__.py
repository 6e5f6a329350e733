"""Seeing a run: the HTML report, run comparisons, the live view, exports and the task's own figures."""
