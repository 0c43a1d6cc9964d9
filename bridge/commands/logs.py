import click


@click.command("logs")
@click.argument("run")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the run is going (until it ends).")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where RUN is looked up when it is a name rather than a directory.")
def command(run, follow, runs_dir) -> None:
    """Print the backend log of RUN (a run directory, or the latest run whose directory name starts with RUN).

    \b
      bridge logs runs/demo-sft-trl-20260101-120000
      bridge logs demo-sft-trl -f       # the latest demo-sft run on TRL, followed until it ends
    """
    import sys

    from ..runlist import follow as follow_log, resolve_run

    d = resolve_run(run, runs_dir)
    try:
        status = follow_log(d, lambda s: (sys.stdout.write(s), sys.stdout.flush()), follow=follow)
    except KeyboardInterrupt:   # stopping to follow is not an error
        return
    if follow:
        click.echo(f"[{d.name}: {status}]", err=True)
