"""Shell-completion of option values (``--backend``, ``--style``, ``--preset``): each reads its registry only when
the shell asks, so importing a command stays light (`bridge --help`)."""
from __future__ import annotations

from click.shell_completion import CompletionItem


def _items(names, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_backend(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..backends import backend_names

    return _items(backend_names(), incomplete)


def complete_backend_or_all(ctx, param, incomplete: str) -> list[CompletionItem]:
    return complete_backend(ctx, param, incomplete) + _items(["all"], incomplete)


def complete_style(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..styles import available

    return _items(available(), incomplete)


def complete_preset(ctx, param, incomplete: str) -> list[CompletionItem]:
    from ..rewards import all_rewards

    return _items(sorted(all_rewards()), incomplete)


def complete_backends(ctx, param, incomplete: str) -> list[CompletionItem]:
    """A comma-separated list (``bench --backends trl,sw``): completes its last element."""
    from ..backends import backend_names

    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [CompletionItem(prefix + n) for n in backend_names() if n.startswith(last) and n not in done.split(",")]


def one_out(positional, alias):
    """OUT given once: as the positional (the spelling every command uses) or the old ``--out`` alias."""
    import click

    if positional and alias and positional != alias:
        raise click.UsageError(f"OUT given twice ({positional} and --out {alias}); give it once")
    if not (positional or alias):
        raise click.UsageError("Missing argument 'OUT'.")
    return positional or alias


def is_override(arg: str) -> bool:
    from ..overrides import is_override as check

    return check(arg)
