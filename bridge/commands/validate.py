import click


@click.command("validate")
@click.argument("dataset", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of one problem per line.")
@click.option("--max-problems", type=click.IntRange(min=1), default=None, metavar="N",
              help="List at most N problems (all are still counted) [default: 20 on the terminal, every one in a "
                   "file named at the end].")
@click.option("--no-images", is_flag=True, help="Do not open image files (paths are still checked).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for large datasets [default: CPUs available; 1 = no workers].")
def command(dataset: str, as_json: bool, max_problems, no_images: bool, jobs) -> None:
    """Check a canonical dataset: every record, every image header, every coordinate.

    Exit code 0 when the dataset is valid, 2 otherwise; each problem is printed on its own line as
    FILE:LINE [EPISODE] FIELD: message (expected ..., found ...).
    """
    import json
    import sys

    from ..errors import BridgeError
    from ..validate import validate_dataset

    try:
        report = validate_dataset(dataset, check_images=not no_images, max_problems=max_problems, jobs=jobs)
    except BridgeError as e:
        if not as_json:
            raise
        click.echo(json.dumps({"dataset": dataset, "ok": False, "error": e.message,
                               "problems": [p.to_dict() for p in e.problems]}, ensure_ascii=False, default=str))
        sys.exit(e.exit_code)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        from ..errors import shown_problems

        shown, more = shown_problems(report.problems) if max_problems is None else (report.problems, None)
        for p in shown:
            click.echo(str(p))
        if more:
            click.echo(more, err=True)
        summary = f"{report.episodes} episodes, {report.steps} steps"
        if report.invalid_records:
            summary += f", {report.invalid_records} unreadable records"
        if report.ok:
            click.echo(f"OK: {report.root}: {summary}, no problems")
        else:
            more = report.problem_count - len(report.problems)
            extra = f" ({more} more not shown; raise --max-problems)" if more else ""
            click.echo(f"INVALID: {report.root}: {report.problem_count} problems{extra} in {summary}", err=True)
    if not report.ok:
        sys.exit(2)  # not click's Exit: bridge.cli.main runs click with standalone_mode=False
