"""Taking control of a run from the shell: the approval prompt of `run/resume --approve` and `fork` (time travel).

The prompt reads one line per question from stdin, so answers can be typed or piped: `a` approves, `s [reason]`
skips (the trial is stored as `vetoed`), `e` opens $VISUAL/$EDITOR on the program (where no editor is usable it
asks for the path of a file holding the program) and `e PATH` takes the program from a file. An edit is checked
like any proposal (harness unchanged, compiles) before it is sent. At the end of input the run stops, paused and
resumable: `asi-evolve resume RUN_DIR` asks again.

LangGraph and the graph's modules load only when a question is asked or a fork is made: `asi-evolve --help`,
`status` and `best` import this module and stay fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import click
import typer
from rich.console import Console

from graph.progress import LoopProgress, finish
from graph.runner import resume_run

if TYPE_CHECKING:
    from langgraph.types import Interrupt

    from graph.approval import Answer

PROMPT = "approve (a), edit (e [PATH]) or skip (s [reason])? "


class ApprovalPrompt:
    """The CLI's approver: shows each pending question and returns {interrupt id: answer}; None once input ends.

    `display` (the progress bar, a context manager) is stopped while a person reads and answers."""

    def __init__(self, display: Any = None, stdin: TextIO | None = None, console: Console | None = None) -> None:
        self.display = display
        self.stdin = stdin or sys.stdin
        self.console = console or Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
        self.ended = False

    def __call__(self, pending: list[Interrupt]) -> dict[str, Any] | None:
        from graph.approval import KIND

        if self.ended:
            return None
        if self.display is not None:
            self.display.__exit__(None, None, None)
        try:
            answers: dict[str, Any] = {}
            for question in pending:
                if not (isinstance(question.value, dict) and question.value.get("kind") == KIND):
                    self.console.print(f"the run waits for an answer this prompt cannot give: {question.value!r}")
                    break
                answer = self.ask(question.value)
                if answer is None:
                    break
                answers[question.id] = answer.to_value()
            return answers or None
        finally:
            if self.display is not None:
                self.display.__enter__()

    def show(self, request: dict[str, Any]) -> None:
        parent = "the initial program" if request.get("parent_id") is None else f"node {request['parent_id']}"
        say = self.console.print
        say(f"\napproval: trial {request['trial']} (parent {parent}) will run '{request['name']}'")
        say(f"motivation: {request['motivation'] or '(none)'}")
        say(request["diff"].rstrip() or "(the program is the parent's)")
        if request.get("error"):
            say(request["error"])

    def ask(self, request: dict[str, Any]) -> Answer | None:
        """Read lines until one is a usable answer; None at the end of input."""
        from graph.approval import ALIASES, Answer, checked_edit

        self.show(request)
        while True:
            self.console.print(PROMPT, end="")
            line = self.readline()
            if line is None:
                return None
            word, _, rest = line.strip().partition(" ")
            action = ALIASES.get(word.lower())
            if action is None:
                self.console.print(f"not an answer: {line.strip()!r}")
                continue
            if action != "edit":
                return Answer(action, reason=rest.strip() if action == "skip" else "")
            program = self.edited(request["program"], rest.strip())
            if program is None:
                if self.ended:
                    return None
                continue
            try:  # the same check the run makes; its harness is the request's program's
                return Answer("edit", checked_edit(request["program"], program))
            except ValueError as exc:
                self.console.print(f"edit refused: {exc}")

    def readline(self) -> str | None:
        """The next line of input; None (and no more questions) at its end."""
        line = self.stdin.readline()
        if not line:
            self.ended = True
            self.console.print("\nend of input: no answer given")
            return None
        return line

    def edited(self, program: str, path: str) -> str | None:
        """The new program: from PATH, else from the editor, else from a path read on the next line."""
        if not path and (os.environ.get("VISUAL") or os.environ.get("EDITOR") or self.stdin.isatty()):
            try:
                text = click.edit(program, extension=".py", require_save=True)
            except click.ClickException as exc:
                self.console.print(f"no usable editor ({exc.format_message()})")
            else:
                if text is None or text == program:
                    self.console.print("the program was not changed")
                    return None
                return text
        if not path:
            self.console.print("path of a file holding the program: ", end="")
            line = self.readline()
            if line is None:
                return None
            path = line.strip()
        try:
            return Path(path).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            self.console.print(f"cannot read {path}: {exc}")
            return None


def fork(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to fork from (left untouched).")],
    at: Annotated[str, typer.Option("--at", help="Fork point: node:ID (right after the generation that stored "
                                    "node ID) or step:N (right after step N).")],
    new_dir: Annotated[Path, typer.Option("--run-dir", help="Directory of the new run (must not hold one).")],
    steps: Annotated[int | None, typer.Option(min=1, help="Steps to run after the fork point (default: up to the "
                                              "original's budget).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fork (default: the original's). Offline runs are "
                                             "deterministic: the same seed replays the original's later steps "
                                             "exactly, another seed explores another branch.")] = None,
) -> None:
    """Start a new run from an earlier checkpoint of RUN_DIR (time travel) and run it; RUN_DIR is not changed."""
    from graph.fork import prepare_fork

    prepared = prepare_fork(run_dir, at, new_dir, steps=steps, seed=seed)
    Console(stderr=True, markup=False, highlight=False).print(
        f"forked {run_dir} at {at} (step {prepared.steps}, {prepared.nodes} nodes kept) into {new_dir}")
    with LoopProgress(new_dir, prepared.budget.max_steps) as progress:
        state = resume_run(new_dir, listener=progress, on_training=progress.training,
                           approver=ApprovalPrompt(progress))
    finish(state, new_dir, progress.elapsed_s)
