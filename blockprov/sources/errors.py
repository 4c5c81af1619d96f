"""The one error every datasource raises (a leaf, so the source helpers need not import the package)."""


class SourceError(Exception):
    """The datasource is there but unusable (unreadable medium, invalid document, HTTP failure)."""
