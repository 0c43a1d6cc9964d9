"""The trl backend of gui-bridge: see adapter.py and docs/backends.md."""
