"""The item statuses of a plan and an apply, and the sets everybody judges them by (one place for the words).

Planned: ``create``, ``grow`` and ``ok`` will be (or are) as the config says; ``waiting`` waits for a device;
the BAD ones stop the item and what depends on it. Applied: ``done`` and ``ok`` are as the config says,
``failed`` is BAD. docs/storage-config.md, Statuses, says what each means.
"""

PLANNED_GOOD = ("create", "grow", "ok")  # the plan goes ahead with these
APPLIED_GOOD = ("ok", "done")  # after apply: as the config says
WAITING = "waiting"
BAD = ("conflict", "refused", "error", "failed", "blocked", "unsupported")
ALL = PLANNED_GOOD + (WAITING,) + BAD + ("done",)
