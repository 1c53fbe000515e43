"""The state table: intent, bindings and delivery de-duplication (Azure is the truth for what exists)."""
