"""Helpers shared by the test modules: fake servers, test doubles, task folders and canned inputs."""
