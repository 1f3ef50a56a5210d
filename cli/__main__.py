"""``python -m cli``: the same as the ``kb`` command."""

from cli import main

main()
