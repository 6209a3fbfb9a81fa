"""Argument groups that several subcommands share."""

from __future__ import annotations

import argparse


def add_image_mode(parser: argparse.ArgumentParser, copy_help: str, relative_help: str) -> None:
    """``--copy`` / ``--symlink`` / ``--relative`` (one of them, ``args.image_mode``,
    None when none is given): how a written dataset holds its images. The
    defaults differ per command, so each says its own in ``copy_help`` and
    ``relative_help``."""
    images = parser.add_mutually_exclusive_group()
    images.add_argument("--copy", dest="image_mode", action="store_const", const="copy", help=copy_help)
    images.add_argument("--symlink", dest="image_mode", action="store_const", const="symlink",
                        help="symlink the images into OUT")
    images.add_argument("--relative", dest="image_mode", action="store_const", const="relative", help=relative_help)
