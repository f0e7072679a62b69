"""The storage lifecycle: garbage collection and fsck (retention, immutability beside them)."""
