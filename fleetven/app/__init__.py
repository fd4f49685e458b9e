"""The application layer: the ``fleetven`` command, its configuration file, the load-test and
VTN commands, and the demo. The only product layer that may use :mod:`fleetven.testing`."""
