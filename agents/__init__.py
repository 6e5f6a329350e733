"""The agents of the loop (Learner, Researcher, Engineer, Analyzer) and their pluggable strategies."""
