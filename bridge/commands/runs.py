import click


@click.command("runs")
@click.argument("runs_dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run (a list).")
def command(runs_dirs, as_json) -> None:
    """The run records under RUNS_DIRS (default: runs/), oldest first: name, backend, status, steps, final
    loss/reward, wall time.

    \b
      bridge runs                 # then: bridge logs <run> -f, bridge compare runs/<a> runs/<b>
      bridge runs runs/bench-demo-sft-smoke-20260101-120000 --json
    """
    import json

    from ..compare import text_table
    from ..runlist import COLUMNS, find_runs, run_rows

    rows = run_rows(find_runs(list(runs_dirs) or ["runs"]))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    elif rows:
        click.echo(text_table(rows, list(COLUMNS)))
    else:
        click.echo("(no runs)", err=True)
