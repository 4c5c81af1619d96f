"""blockprov-engine: the host side. Instance definitions, seed images, the metadata service, events."""
