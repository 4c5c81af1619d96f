"""blockprov: instance provisioning agent with a declarative storage engine."""

__version__ = "0.1.0"
