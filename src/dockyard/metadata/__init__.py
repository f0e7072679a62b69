"""Registry metadata: the MetadataStore protocol and its SQLAlchemy implementation."""
