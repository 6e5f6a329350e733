"""`asi-evolve report | compare | serve | export`: seeing what a run found, how, and at what cost."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from graph.runner import RunError, existing_database, load_run_config


def _run_dir(path: Path) -> Path:
    """A run directory, checked before anything is built: one line (exit 2) when it is not one."""
    load_run_config(path)
    existing_database(path)
    return path


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: RUN_DIR/report.html).")]
    = None,
) -> None:
    """Write one self-contained HTML report of a run (works offline; open it in any browser)."""
    from graph.report.report import write_report

    target = write_report(_run_dir(run_dir), out)
    sys.stdout.write(f"report written to {target}\n")


def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("comparison.html"),
) -> None:
    """Several runs in one report (samplers, ablations, seeds side by side)."""
    from graph.report.compare import write_comparison

    if len(run_dirs) < 2:
        raise RunError("compare needs at least two run directories")
    target = write_comparison([_run_dir(d) for d in run_dirs], out)
    sys.stdout.write(f"comparison of {len(run_dirs)} runs written to {target}\n")


def serve(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (it may still be running).")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve a live view of a run: the report, redrawn as nodes arrive. Ctrl-C stops it."""
    from graph.report.serve import make_server

    try:
        server = make_server(_run_dir(run_dir), host, port)
    except OSError as exc:
        raise RunError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)") from None
    bound_host, bound_port = server.server_address[:2]
    sys.stdout.write(f"serving the live view of {run_dir} at http://{bound_host}:{bound_port}/ (Ctrl-C stops)\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def export(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: RUN_DIR/nodes.<format>).")]
    = None,
) -> None:
    """Export every node of a run (all fields) as JSON Lines or CSV."""
    from graph.report.export import FORMATS, export_nodes

    if fmt not in FORMATS:
        raise RunError(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    target = out or run_dir / f"nodes.{fmt}"
    count = export_nodes(_run_dir(run_dir), fmt, target)
    sys.stdout.write(f"{count} nodes written to {target}\n")
