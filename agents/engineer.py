"""Engineer node: builds the candidate from the proposal, checks it statically, and launches the experiment.

Launching is a tool call (`run_program`) that LangGraph's tool node executes; the Engineer then reads the tool's
result. A deterministic Engineer and a model-driven one therefore launch experiments the same way, and every
launch is visible in Studio.
"""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.runtime import Runtime

from agents.base import Proposal
from agents.researcher import one_line
from graph.context import Context
from graph.services import ServiceProvider
from graph.state import TrialState, Verdict
from tools.edits import EditError, apply_edits, check_harness
from tools.results import EvalResult


class CandidateError(ValueError):
    """The candidate cannot be run: `status` is unappliable or invalid; `program` is what was built, if anything."""

    def __init__(self, status: str, reason: str, program: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.program = program


def build_candidate(base_program: str, proposal: Proposal) -> str:
    """Apply the proposal to the base program and check it; raise `CandidateError` saying why not."""
    if proposal.mode == "rewrite":
        program = proposal.edit
    else:
        try:
            program = apply_edits(base_program, proposal.edit)
        except EditError as exc:
            raise CandidateError("unappliable", one_line(str(exc))) from None
    problem = check_harness(base_program, program)
    if problem:
        raise CandidateError("invalid", one_line(f"harness changed: {problem}"), program)
    try:
        compile(program, "program.py", "exec")
    except SyntaxError as exc:
        reason = one_line(f"syntax error line {exc.lineno}: {exc.msg}")
        raise CandidateError("invalid", reason, program) from None
    return program


def read_tool_result(message: ToolMessage) -> EvalResult:
    """Turn the launch tool's reply into an `EvalResult`; a launcher error is a failed experiment."""
    text = message.content if isinstance(message.content, str) else json.dumps(message.content)
    if getattr(message, "status", "success") == "error":
        return EvalResult("failed", None, error=one_line(f"launcher error: {text}"))
    try:
        return EvalResult.from_json(text)
    except (ValueError, TypeError) as exc:
        return EvalResult("failed", None, error=one_line(f"unreadable launcher reply: {exc}"))


def make_engineer_node(provider: ServiceProvider):
    def engineer(state: TrialState, runtime: Runtime[Context]) -> dict:
        if state.get("verdict") is not None:
            return {}
        messages = state.get("messages") or []
        if messages and isinstance(messages[-1], ToolMessage):
            result = read_tool_result(messages[-1])
            return {"result": result, "timings": {"eval_s": result.duration_s}}
        services = provider(runtime.context)
        spec = state["spec"]
        proposal = state["proposal"]
        if spec.parent_id is None:
            base = services.task.initial_program.read_text()
        else:
            base = services.db.get(spec.parent_id).program
        try:
            program = build_candidate(base, proposal)
        except CandidateError as exc:
            return {"verdict": Verdict(exc.status, str(exc)), "program": exc.program}
        path = services.node_dir(spec.key) / "program.py"
        path.write_text(program)
        call = {"name": "run_program", "args": {"program_path": str(path)}, "id": f"run-{spec.key}"}
        return {"program": program, "messages": [AIMessage(content="", tool_calls=[call])]}

    return engineer


def pending_launch(state: TrialState) -> bool:
    """True while the Engineer's last message asks for a tool call that has not run yet."""
    messages = state.get("messages") or []
    return bool(messages) and isinstance(messages[-1], AIMessage) and bool(messages[-1].tool_calls)
