"""The boot: stages and what they read and keep (instance data, system config, user-data, semaphores, status).

Nothing here knows about udev or the command line; ``blockprov.cli`` and
``blockprov.events`` call into it.
"""
