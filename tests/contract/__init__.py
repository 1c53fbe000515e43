"""Contract tests: every backend of a port passes the same tests."""
