"""GitLab adapters (python-gitlab). python-gitlab is synchronous, so calls run in worker threads."""
