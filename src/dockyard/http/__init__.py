"""HTTP surface: the distribution API (v2/), health probes, and the ASGI plumbing."""
