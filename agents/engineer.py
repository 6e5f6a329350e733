"""Engineer node: builds the candidate from the proposal, checks it statically, and launches the experiment.

Launching is a tool call (the task's launcher: `run_program`, `train_with_deepspeed`) that LangGraph's tool node
executes; the Engineer then reads the tool's result. A deterministic Engineer and a model-driven one therefore
launch experiments the same way, and every launch is visible in Studio.
"""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.runtime import Runtime

from agents.models.errors import one_line
from agents.strategies.protocols import Proposal
from graph.context import Context
from graph.launch_tools import launch_call
from graph.services import ServiceProvider, Services
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
    elif proposal.program:  # the strategy applied its edit to this base already
        program = proposal.program
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
        services = provider(runtime.context)
        messages = state.get("messages") or []
        if messages and isinstance(messages[-1], ToolMessage):
            result = read_tool_result(messages[-1])
            eval_s = state.get("timings", {}).get("eval_s", 0.0) + result.duration_s
            repaired = try_repair(services, state, result)
            noted = {"notes": [*(state.get("notes") or []), *result.notes]} if result.notes else {}
            if repaired is not None:
                return {**repaired, **noted, "timings": {"eval_s": eval_s}}
            return {"result": result, **noted, "timings": {"eval_s": eval_s}}
        key = state["spec"].key
        update: dict = {}
        try:
            update = prepare(services, state)
        finally:  # however it ends (but sent back), this trial's claim turn is over
            if services.order is not None and not update.get("sent_back"):
                services.order.pass_turn(key, "claim")
        return update

    return engineer


def prepare(services: Services, state: TrialState) -> dict:
    """Build and check the candidate, claim it as novel (in slot order), and ask the tool node to launch it.

    A repeat (identical program, or a motivation too similar with a threshold set) is sent back to the
    Researcher while retries last; then an identical program is stored as `duplicate` without running.
    """
    if state.get("verdict") is not None:
        return {}
    spec, proposal = state["spec"], state["proposal"]
    base = services.task.initial_program.read_text() if spec.parent_id is None else services.db.get(
        spec.parent_id).program
    try:
        program = build_candidate(base, proposal)
    except CandidateError as exc:
        return {"verdict": Verdict(exc.status, str(exc)), "program": exc.program}
    if spec.parent_id is not None:
        if services.order is not None:
            services.order.wait_turn(spec.key, "claim")
        novelty = services.novelty
        twin = novelty.twin(program, spec.key)
        reason = twin or novelty.similar(proposal.motivation, services.context.novelty_threshold)
        rejections = state.get("novelty_rejections", 0)
        if reason and rejections < services.context.novelty_retries:
            note = f"proposal '{proposal.name}' was sent back: {reason}; propose something different"
            return {"sent_back": True, "novelty_rejections": rejections + 1,
                    "feedback": [*(state.get("feedback") or []), note]}
        if twin:
            return {"verdict": Verdict("duplicate", one_line(f"not run: {twin}")), "program": program}
        novelty.claim(program, spec.key)
    return {"program": program, "messages": [launch(services, spec.key, program, attempt=0)]}


def launch(services: Services, key: str, program: str, attempt: int) -> AIMessage:
    """Write the candidate to its node folder and ask the tool node to run it with the task's launcher."""
    path = services.node_dir(key) / "program.py"
    path.write_text(program)
    call_id = f"run-{key}" + (f"-repair{attempt}" if attempt else "")
    return AIMessage(content="", tool_calls=[launch_call(services.task, path, call_id)])


def try_repair(services: Services, state: TrialState, result: EvalResult) -> dict | None:
    """After a crash, let the model repair the program (up to `repair_rounds` times); None to keep the result.

    Every attempt is recorded: the crashed program, its error, and why a repair could not be made.
    """
    attempts = list(state.get("attempts") or [])
    rounds = services.context.repair_rounds
    if result.status != "failed" or services.repairer is None or len(attempts) >= rounds:
        return None
    key = state["spec"].key
    crashed = state.get("program") or ""
    attempt = {"status": result.status, "error": result.error, "program": crashed}
    (services.node_dir(key) / f"attempt{len(attempts)}.py").write_text(crashed)
    try:
        fix = services.repairer.repair(crashed, result.error, result.stderr_tail, key=f"{key}:repair{len(attempts)}",
                                       candidate=key)
        program = build_candidate(crashed, fix)
    except (ValueError, RuntimeError) as exc:  # ProposalError, CandidateError, BudgetExceeded, LLMCallError
        attempt["repair_error"] = one_line(f"{type(exc).__name__}: {exc}")
        return {"attempts": [*attempts, attempt], "result": result}
    attempts.append({**attempt, "repair": fix.name})
    return {"program": program, "attempts": attempts, "messages": [launch(services, key, program, len(attempts))]}


def sent_back(state: TrialState) -> bool:
    """True when the Engineer returned the proposal to the Researcher for lack of novelty."""
    return bool(state.get("sent_back"))


def pending_launch(state: TrialState) -> bool:
    """True while the Engineer's last message asks for a tool call that has not run yet."""
    messages = state.get("messages") or []
    return bool(messages) and isinstance(messages[-1], AIMessage) and bool(messages[-1].tool_calls)
