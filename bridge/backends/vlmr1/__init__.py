"""The vlmr1 backend of gui-bridge: see adapter.py and docs/backends.md."""
