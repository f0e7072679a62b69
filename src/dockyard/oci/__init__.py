"""Pure OCI spec code: digests, names, media types, manifest parsing. No I/O."""
