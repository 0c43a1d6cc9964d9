"""Shell-completion of option values (``--backend``, ``--style``, ``--preset``): each reads its registry only when
the shell asks, so importing a command stays light (`bridge --help`)."""
from __future__ import annotations

from click.shell_completion import CompletionItem


def _items(names, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_backend(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..adapters import adapter_names

    return _items(adapter_names() + ["all"], incomplete)


def complete_style(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..styles import available

    return _items(available(), incomplete)


def complete_preset(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..rewards import all_rewards

    return _items(sorted(all_rewards()), incomplete)
