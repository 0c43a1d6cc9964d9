import click


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary rows and config diff as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the per-step metrics of every run as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Write loss/reward curves and throughput/memory bars.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write one self-contained HTML report (plots next to it as .png unless --png is given).")
@click.option("--all-settings", is_flag=True, help="List every setting, not only those that differ.")
def command(runs, as_json, csv_path, png_path, html_path, all_settings):
    """Compare runs side by side: metrics table, plots and the effective-config diff.

    \b
    RUNS are run directories (written by `bridge run`) or directories of runs (a `bridge bench` directory).
    Metrics come from each backend's own logs; settings are read back from what each backend received
    (its saved training arguments, args.json, its log lines), so the diff shows what really differed.
    \b
      bridge compare runs/demo-sft-trl-* runs/demo-sft-swift-* --html report.html
    """
    import json
    from pathlib import Path

    from ..compare import config_diff, html_report, load_run, plot_png, run_dirs, table_columns, text_table, write_csv

    views = [load_run(r) for r in run_dirs(list(runs))]
    rows = [v.summary() for v in views]
    diff = config_diff(views)
    if as_json:
        click.echo(json.dumps({"runs": rows, "config_diff": diff,
                               "warnings": [w for v in views for w in v.warnings]}, indent=2, default=str))
    else:
        click.echo(text_table(rows, table_columns(rows)))
        shown = diff if all_settings else [d for d in diff if d["differs"]]
        if shown:
            click.echo("\n" + ("settings:" if all_settings else "settings that differ:"))
            click.echo(text_table([{"setting": d["key"], **{v.label: d["values"][i] for i, v in enumerate(views)}}
                                   for d in shown]))
        elif len(views) > 1:
            click.echo("\nno setting differs between these runs")
        for v in views:
            for w in v.warnings:
                click.echo(f"warning: {w}", err=True)
    if csv_path:
        write_csv(views, Path(csv_path))
    png = Path(png_path) if png_path else None
    if html_path and png is None:
        png = Path(html_path).with_suffix(".png")
    if png is not None:
        plot_png(views, png)
        click.echo(f"plots: {png}", err=True)
    if html_path:
        click.echo(f"report: {html_report(views, Path(html_path), png)}", err=True)
