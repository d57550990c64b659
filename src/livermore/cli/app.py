"""The `livermore` command: one typer app, every command registered here, and its entry point."""

from __future__ import annotations

import sys

import typer

# typer 0.29 (pinned) vendors click; its exceptions are the ones a usage mistake raises.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from livermore.cli.commands import demo, scan, schedule, status, warmup
from livermore.cli.options import EXIT_ERROR, EXIT_SIGINT, err
from livermore.cli.send import send
from livermore.cli.serve import serve
from livermore.cli.simulator import simulator
from livermore.cli.worker import worker

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Keep a Redis cache of exchange OHLCV candles complete and fresh: scan, schedule, warm up, serve.",
)
for command in (scan, schedule, warmup, status, demo, simulator, serve, worker, send):
    app.command()(command)


def main(args: list[str] | None = None) -> int:
    """Run the app and return its exit code. A usage mistake (an unknown option, a missing or bad
    value) is one `error:` line and exit 1, like every other bad input: click's own exit 2 would
    read as a warmup's outcome `failed`."""
    try:
        code = app(args, prog_name="livermore", standalone_mode=False)
    except NoArgsIsHelpError as e:
        e.show()
        return 0
    except ClickException as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if isinstance(e, UsageError) and e.ctx else ""
        err.print(f"[red]error:[/red] {e.format_message()}{hint}", highlight=False, markup=True)
        return EXIT_ERROR
    except typer.Abort:
        return EXIT_SIGINT
    return code if isinstance(code, int) else 0


def run() -> None:
    """The console script and `python -m livermore`."""
    sys.exit(main())
