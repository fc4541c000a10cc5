"""`python -m facecast.voice voices|say ...`: the voice commands on their own."""

import typer

from .cli import register

app = typer.Typer(add_completion=False, no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
