import click


@click.group("env")
def command() -> None:
    """Backend environments: one isolated virtualenv per trainer, built from pinned requirements.

    \b
      bridge env install trl             # create/update (no-op when current)
      bridge env install trl swift --overwrite
      bridge env install vlmr1 --checkout ~/VLM-R1
      bridge env list
      bridge env path trl [--python]
    Location: $BRIDGE_HOME/envs/<backend> (default ~/.cache/gui-bridge/envs/<backend>).
    """


@command.command("install")
@click.argument("backends", nargs=-1, required=True)
@click.option("--overwrite", "force", is_flag=True, help="Rebuild from scratch even when up to date.")
@click.option("--force", "force_alias", is_flag=True, hidden=True)   # the old spelling (one flag vocabulary)
@click.option("--checkout", type=click.Path(file_okay=False, path_type=str), default=None,
              help="The trainer checkout of a backend built from one (vlmr1: a clone of om-ai-lab/VLM-R1 or its "
                   "src/open-r1-multimodal folder); ignored by the others. Default: the one the environment "
                   "remembers.")
def install(backends: tuple[str, ...], force: bool, force_alias: bool, checkout: str) -> None:
    """Create or update the environment of each BACKEND."""
    from pathlib import Path

    from .. import envs

    force = force or force_alias
    given = Path(checkout).expanduser().resolve() if checkout else None
    for name in backends:   # unknown names and unusable checkouts fail before anything is built
        envs.requirements_file(name)
        if envs._needs_checkout(name):
            envs.requirement_lines(name, given or envs.env_checkout(name))
    for name in backends:
        envs.install(name, force=force, echo=lambda s: click.echo(s, err=True), checkout=given)


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """Known environments and their state (ok / outdated / missing)."""
    import json

    from .. import envs

    rows = [envs.status(n) for n in envs.env_names()]
    if as_json:
        click.echo(json.dumps([{"name": s.name, "state": s.state, "path": str(s.path),
                                "installed_at": s.stamp.get("installed_at")} for s in rows], indent=2))
        return
    for s in rows:
        note = "" if s.state == "ok" else f"   -> {envs.install_command(s.name)}"
        click.echo(f"{s.name:<14}{s.state:<10}{s.path}{note}")


@command.command("path")
@click.argument("backend")
@click.option("--python", "python", is_flag=True, help="Print the interpreter instead of the directory.")
def path(backend: str, python: bool) -> None:
    """Print where BACKEND's environment lives (error with the fix command when it is not installed)."""
    from .. import envs

    exe = envs.resolve_python(backend)
    click.echo(exe if python else str(envs.env_dir(backend)))
