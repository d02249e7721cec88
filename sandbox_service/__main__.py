"""``python -m sandbox_service`` is the ``sandbox-service`` command."""

from .cli import main

main(prog_name="sandbox-service")
