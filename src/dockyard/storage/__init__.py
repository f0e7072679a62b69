"""Blob storage: the StorageDriver protocol, its drivers and the key layout."""
