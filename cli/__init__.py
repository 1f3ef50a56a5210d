"""The ``kb`` command line, above kb: it composes kb, the HTTP API (``kb serve``) and eval (``kb eval``).

The commands register on :data:`cli.app.main` when their modules are imported here.
"""

from cli import admin, read
from cli.app import main

__all__ = ["admin", "main", "read"]
