import click

from ._values import complete_backend


@click.command("check")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--backend", "-b", default=None, shell_complete=complete_backend,
              help="Backend whose loader to run (default: the export's).")
@click.option("--model", default=None, help="Local model directory or tiny:<arch> (default: the export's model).")
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Render the backend config from this recipe (pixel bounds, template overrides, interpreter).")
@click.option("--limit", type=int, default=None, help="Report details for the first N samples only.")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the rendered config, request and backend log in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the full JSON report.")
def command(export_dir, backend, model, recipe_path, limit, keep, as_json):
    """Run the backend's OWN data loading and template encoding on EXPORT_DIR, in its environment.

    Reports samples loaded and dropped (must be 0), image tokens per image (must equal the resize policy's grid
    for the recipe's pixel bounds) and the decoded prompt and trained target of the first sample. Exit code 1
    when anything was dropped or mismatched. Run it before renting GPUs.

    \b
    Example:
      bridge convert data/synth --backend llamafactory --style qwen2vl --method sft --out exports/lf
      bridge check --backend llamafactory exports/lf --model tiny:qwen2_vl
    """
    import json
    from pathlib import Path

    from ..backends.check import run_check

    recipe = None
    if recipe_path:
        from ..recipe import load_recipe

        recipe = load_recipe(recipe_path)
    verdict = run_check(backend, export_dir, model=model, recipe=recipe, limit=limit,
                        workdir=Path(keep) if keep else None)
    if as_json:
        click.echo(json.dumps({**verdict.report, "ok": verdict.ok, "mismatches": verdict.mismatches},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(verdict.summary())
    if not verdict.ok:
        raise click.exceptions.Exit(1)
