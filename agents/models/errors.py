"""What can go wrong with a model, as exceptions that cost nothing to import.

Why a module of its own: the graph's router, the nodes and the CLI catch these without loading the OpenAI and
LangChain stack the client needs. Every message is one line meant for people.
"""

from __future__ import annotations


class LLMUnavailable(RuntimeError):
    """The model cannot be used at all (no key, missing package, unreachable server); one line saying why."""


class BudgetExceeded(RuntimeError):
    """The run's model budget (cost or tokens) is spent; raised before a call, never after paying for it."""


class LLMCallError(RuntimeError):
    """A model call failed (after its retries, or at once when retrying cannot help); one line saying why."""


class ReplayMiss(LLMCallError):
    """Replay found no recorded answer for a call: the run diverged from the recording."""


class ProposalError(ValueError):
    """A model reply that cannot become a proposal; the message is one line saying why."""


class EditProblem(ProposalError):
    """The reply is a proposal whose edit is missing, malformed or does not apply: worth asking once more."""


def one_line(text: str, limit: int = 300) -> str:
    """First line of `text`, shortened with an explicit marker (for error fields, never for code)."""
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 15] + " …(shortened)"
