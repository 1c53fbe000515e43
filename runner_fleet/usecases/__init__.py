"""One use case per module, named by its verb. Each depends on narrow ports, never on adapters."""
