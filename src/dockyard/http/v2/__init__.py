"""The OCI distribution API: thin handlers over dockyard.registry."""
