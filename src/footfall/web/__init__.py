"""The ASGI app: routes, auth, and the only place that knows HTTP status codes."""
