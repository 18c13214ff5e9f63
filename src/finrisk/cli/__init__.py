"""The ``finrisk`` command line."""
