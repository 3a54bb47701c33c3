"""``python -m tickwire``: the ``tickwire`` command line (see ``cli.py``)."""

from .cli import main

main()
