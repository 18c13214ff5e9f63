"""One router per resource; :func:`finrisk.api.app.create_app` includes them all."""
