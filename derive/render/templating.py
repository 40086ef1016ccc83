"""The Jinja2 environment shared by every renderer: strict, and loading from ``templates/``.

Python templates use Jinja2's usual delimiters; LaTeX templates (``*.tex.j2``) use ``<< >>`` for
expressions and ``<% %>`` for statements, which do not fight with TeX braces.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _directory() -> Path:
    """``templates/`` at the top of the project; the installed package carries a copy."""
    packaged = Path(__file__).resolve().parents[1] / "templates"
    return TEMPLATES if TEMPLATES.is_dir() else packaged


@cache
def environment(latex: bool = False) -> jinja2.Environment:
    options: dict[str, Any] = {  # jinja2.Environment's keyword arguments, each of its own type
        "loader": jinja2.FileSystemLoader(str(_directory())),
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "autoescape": False,
    }
    if latex:
        options.update(
            block_start_string="<%", block_end_string="%>", variable_start_string="<<",
            variable_end_string=">>", comment_start_string="<#", comment_end_string="#>",
        )
    return jinja2.Environment(**options)
