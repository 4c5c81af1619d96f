"""What a module declares about itself: one record per module, as cloud-init's ``meta`` (a leaf)."""

from __future__ import annotations

from dataclasses import dataclass

FREQUENCIES = ("per-instance", "always", "once")


@dataclass(frozen=True)
class ModuleMeta:
    """``id`` is the module's file name; ``frequency`` its default (a module list entry may override it);
    ``rerunnable``: safe to run again when its inputs change after boot (update mode, ``config/set``);
    ``schema``: the config keys it reads (their values are its inputs); ``run_schema``: the looser check it
    runs under when it checks its entries one by one; ``scope``: the ``updates`` policy that gates it
    (storage, network); ``datasource_inputs``: SourceData fields it reads besides its config keys."""

    id: str
    frequency: str
    description: str
    rerunnable: bool
    schema: dict
    run_schema: dict | None = None
    scope: str | None = None
    datasource_inputs: tuple[str, ...] = ()

    def __post_init__(self):
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"module {self.id}: frequency {self.frequency!r} is not one of {FREQUENCIES}")

    @property
    def checked_by(self) -> dict:
        """The schema a run is checked against before ``handle`` is called."""
        return self.run_schema if self.run_schema is not None else self.schema
