"""Experiment launchers as LangChain tools, executed by LangGraph's tool node.

`run_program` evaluates a program file of the current run's task in the sandbox and answers with the
`EvalResult` as JSON. Services come from the graph's provider through the tool runtime's context, so the tool's
arguments stay plain JSON that Studio shows for every launch.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from graph.context import Context
from graph.services import ServiceProvider
from tools.results import EvalResult


def make_launch_tools(provider: ServiceProvider) -> list[BaseTool]:
    @tool
    def run_program(program_path: str, runtime: ToolRuntime[Context]) -> str:
        """Evaluate the program file at `program_path` with the run's task evaluator in a sandbox.

        Returns the evaluation result as JSON: status, score (combined_score), metrics, error, output tails.
        """
        services = provider(runtime.context)
        path = Path(program_path)
        if not path.is_file():
            return EvalResult("failed", None, error=f"program file not found: {program_path}").to_json()
        timeout = services.context.eval_timeout_s or None
        result = services.executor.run(services.task, path, None, timeout)
        return result.to_json()

    return [run_program]
