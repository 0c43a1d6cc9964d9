import click

from ._values import complete_backends

#: bridge.commands.eval_.PROFILE_NAMES (kept literal so `bridge --help` imports nothing heavy)
PROFILES = ("aitw", "androidcontrol", "agentcpm", "agentcpm-ac", "gui-r1", "gui-odyssey", "screenspot")


@click.command("bench")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--backends", "-b", default="trl,llamafactory,swift", show_default=True, shell_complete=complete_backends,
              help="Comma-separated backends to run the recipe on, in order.")
@click.option("--smoke", is_flag=True, help="Tiny model of the same family, 2 steps on CPU, on every backend.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Bench directory (default runs/bench-<recipe>-<time>).")
@click.option("--profile", default="gui-r1", show_default=True, type=click.Choice(PROFILES),
              help="bridge eval profile for the recipe's data.eval (when it has one).")
@click.option("--verbose", "-v", is_flag=True, help="Also stream every backend's output to stderr.")
def command(recipe, overrides, backends, smoke, out, profile, verbose):
    """Run RECIPE on several backends in turn and compare them.

    \b
    Each backend runs through `bridge run` into one bench directory. Measured the same way for all: wall time,
    time per step and samples/s (from the backend's own log), peak memory of the backend's process tree
    (sampled from /proc) next to the memory the backend reports (GPU memory where it does), final loss/reward,
    and — when the recipe has data.eval — the exported model scored with `bridge eval`. Ends with the
    comparison table, report.html (table, plots, effective-config diff) and bench.json.
    KEY=VALUE: dotted recipe overrides, as for `bridge run`.
    \b
      bridge bench recipes/demo_sft.yaml --smoke
      bridge bench recipes/qwen25vl_sft_lora.yaml --backends llamafactory,swift
    """
    import sys
    from pathlib import Path

    from ..bench import bench
    from ..compare import table_columns, text_table

    err = lambda s: click.echo(s, err=True)  # noqa: E731
    tty = sys.stderr.isatty()

    def status(line: str, new: bool) -> None:
        if tty:   # one line rewritten in place
            click.echo("\r\033[K" + line, err=True, nl=False)
        elif new:
            err(line)

    def echo(s: str) -> None:
        if tty:
            click.echo("\r\033[K", err=True, nl=False)
        err(s)

    names = [b.strip() for b in backends.split(",") if b.strip()]
    res = bench(recipe, names, Path(out) if out else None, smoke=smoke, profile=profile, verbose=verbose,
                echo=echo, status=status, overrides=overrides)
    click.echo(text_table(res.summaries, table_columns(res.summaries)) if res.summaries else "(no run finished)")
    for b, why in res.not_run.items():
        err(f"not run: {b}: {why}")
    if res.report:
        err(f"report: {res.report}")
    err(f"bench dir: {res.out}  (bridge compare {res.out})")
    if res.interrupted:
        sys.exit(130)
    if not res.summaries or any(s.get("status") != "ok" for s in res.summaries) or res.not_run:
        sys.exit(1)
