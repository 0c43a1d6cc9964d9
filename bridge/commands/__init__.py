"""One module per ``bridge`` sub-command; each exposes ``command`` (a Click command or group).
Module ``foo_bar`` is command ``foo-bar``; a trailing underscore avoids keywords (``import_`` → ``import``)."""
