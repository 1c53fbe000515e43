"""GitHub adapters (PyGithub). PyGithub is synchronous, so calls run in worker threads."""
