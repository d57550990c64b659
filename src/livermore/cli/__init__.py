"""The `livermore` command line, apart from the library (as httpx keeps its `_main.py`): the typer
app, shared options, commands, progress view and rendering. Only this package and
`livermore.service` read Settings."""

from livermore.cli.app import app

__all__ = ["app"]
