"""One module per ``finrisk`` sub-command; each exposes ``register(app)``."""
