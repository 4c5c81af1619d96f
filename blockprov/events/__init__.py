"""After boot: block and NIC hotplug, metadata refresh and watching, the update policy that gates them.

Events are spooled by the udev helper (``spool``), processed by ``hotplug``, and
re-run modules of a scope through ``updates`` on the boot runner.
"""
