"""Answers: retrieval, quote selection, conversations, the HTTP API and the CLI."""
