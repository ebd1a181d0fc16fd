"""One router per resource, all under /api/v1 (devices talk to `agent`)."""
