"""The ``sandbox-service`` command."""

from __future__ import annotations

import click

from .config import Settings

__all__ = ["main"]


@click.group()
def main() -> None:
    """Reward service for RL on code and math."""


@main.command("build-images")
def build_images_cmd() -> None:
    """Build the runtime image from Debian packages (idempotent; rebuilds only what changed)."""
    from .images import build_images

    settings = Settings()
    tag = build_images(
        settings.image, settings.debian_mirror, say=lambda m: click.echo(f"[build-images] {m}")
    )
    click.echo(tag)
