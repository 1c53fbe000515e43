"""Trigger adapters: parse the trigger's input, call one use case, map the result. No logic here."""
