import click


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary rows and config diff as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the per-step metrics of every run as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Write loss/reward curves and throughput/memory bars.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write one self-contained HTML report.")
def command(runs, as_json, csv_path, png_path, html_path):
    """Compare runs side by side: metrics table, plots and the effective-config diff."""
    import json
    from pathlib import Path

    from ..compare import config_diff, html_report, load_run, plot_png, text_table

    views = [load_run(r) for r in runs]
    rows = [v.summary() for v in views]
    diff = config_diff(views)
    if as_json:
        click.echo(json.dumps({"runs": rows, "config_diff": diff}, indent=2))
    else:
        click.echo(text_table(rows))
        differing = [d for d in diff if d["differs"]]
        if differing:
            click.echo("\nsettings that differ:")
            click.echo(text_table([{"setting": d["key"], **{v.label: d["values"][i] for i, v in enumerate(views)}}
                                   for d in differing]))
    if csv_path:
        import csv

        keys = ["run", "backend"] + sorted({k for v in views for row in v.metrics for k in row})
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for v in views:
                for row in v.metrics:
                    w.writerow({"run": v.path.name, "backend": v.backend, **row})
    png = Path(png_path) if png_path else None
    if html_path and png is None:
        png = Path(html_path).with_suffix(".png")
    if png is not None:
        plot_png(views, png)
        click.echo(f"plots: {png}", err=True)
    if html_path:
        click.echo(f"report: {html_report(views, Path(html_path), png)}", err=True)
