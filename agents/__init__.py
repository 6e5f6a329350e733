"""The four nodes of the loop (Learner, Researcher, Engineer, Analyzer); strategies and model plumbing below."""
