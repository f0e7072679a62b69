"""Dockyard: an OCI container registry for Kubernetes."""

__version__ = "0.1.0"
