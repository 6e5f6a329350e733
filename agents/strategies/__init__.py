"""The strategies behind the nodes, by role: researcher, analyzer, repair and judge, offline and model side by side."""
