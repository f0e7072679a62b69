"""Lookup caches that stay correct across worker processes."""
