"""Backend-side entry points. These modules run INSIDE a backend's environment (``bridge env install B``) and are
the only place trainer packages are imported; the bridge process itself never imports them."""
