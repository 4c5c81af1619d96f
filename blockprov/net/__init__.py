"""Network configuration: parse every input form into one model, add policy routing, render per target.

Pure functions of (config, observed interfaces) returning plain data; the
network module (blockprov/modules/network.py) is the shell that reads the
target, writes files and brings interfaces up.
"""
