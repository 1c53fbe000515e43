"""Typed views over raw webhook payloads: properties read the dict, nothing is copied or coerced early."""
