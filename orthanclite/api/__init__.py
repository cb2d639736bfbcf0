"""HTTP layer: one router per resource family, all built on the server context."""
