"""Structured output (D9): extract JSON from an agent's answer, validate it, retry or fail."""
