"""`python -m facecast.service serve|worker|config`: the service commands without the main CLI."""

import typer

from .cli import register

app = typer.Typer(add_completion=False, help="facecast service: HTTP API and workers")
register(app)

if __name__ == "__main__":
    app()
