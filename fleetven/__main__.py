"""``python -m fleetven``: the ``fleetven`` command (see :mod:`fleetven.app.cli`)."""

from fleetven.app.cli import main

raise SystemExit(main())
