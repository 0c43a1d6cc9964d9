import click


@click.command("stats")
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def command(dataset: str, as_json: bool) -> None:
    """Counts of a dataset: episodes, steps, action types, platforms, sources, apps, image sizes
    (from the records, no image is opened), steps per episode. Streamed: fine on large datasets."""
    import json

    from ..stats import compute_stats, format_stats

    s = compute_stats(dataset)
    click.echo(json.dumps(s, ensure_ascii=False, indent=2) if as_json else format_stats(s))
    if s["invalid_records"] and not as_json:
        click.echo(f"warning: {s['invalid_records']} invalid records were skipped; "
                   f"`bridge validate {dataset}` lists them", err=True)
