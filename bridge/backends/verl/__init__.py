"""The verl backend of gui-bridge: see adapter.py and docs/backends.md."""
