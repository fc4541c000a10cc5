"""Helpers shared by the tests: real media (media), the CLI as a subprocess (cli), real servers (server)."""
