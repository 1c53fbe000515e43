"""Adapters: the ports implemented for Azure, GitHub, GitLab, Azure Storage and in memory."""
