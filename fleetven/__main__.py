"""``python -m fleetven``: the ``fleetven`` command (see :mod:`fleetven.cli`)."""

from .cli import main

raise SystemExit(main())
