import click


@click.command("stats")
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def command(dataset: str, as_json: bool) -> None:
    """Counts of a dataset: episodes, steps, action types, platforms, sources, apps, image sizes
    (from the records, no image is opened), steps per episode. Streamed: fine on large datasets."""
    import json

    from ..stats import compute_stats, format_stats

    from ..errors import BridgeError

    s = compute_stats(dataset)
    click.echo(json.dumps(s, ensure_ascii=False, indent=2) if as_json else format_stats(s))
    if s["invalid_records"]:  # counted, shown, and an error: statistics of a dataset that drops records
        raise BridgeError(f"{dataset}: {s['invalid_records']} invalid record(s) were left out of these statistics:\n"
                          + "\n".join(f"  {p}" for p in s["invalid_problems"]),
                          hint=f"`bridge validate {dataset}` lists every problem")
