import click

from ._values import complete_backend_or_all


@click.command("validate-recipe")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--backend", "-b", "backends", multiple=True, shell_complete=complete_backend_or_all,
              help="Backend(s) to check the recipe against (repeatable, or 'all') "
                   "[default: trl and every backend the recipe configures].")
@click.option("--smoke", is_flag=True, help="Check the --smoke variant (tiny model, 2 steps, CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def command(recipe, overrides, backends, smoke, as_json) -> None:
    """Check RECIPE (with KEY=VALUE overrides) without side effects: nothing is built, exported or written.

    \b
    Checks what `bridge run` checks before it starts: every field (unknown and duplicate keys included), the
    rewards and style, what each backend can honour, that data.train/data.eval are canonical datasets and a
    local model directory exists. Exit code 0 when all hold, 2 with every located problem otherwise.
      bridge validate-recipe recipes/qwen25vl_sft_lora.yaml data.train=data/mine --backend all
    """
    import json
    import sys
    from pathlib import Path

    from ..errors import BridgeError
    from ..recipe import load_recipe
    from ..recipe_check import check_recipe

    r = load_recipe(recipe, overrides)
    verdict = check_recipe(r, list(backends), smoke=smoke, file=str(Path(recipe)))
    if as_json:
        click.echo(json.dumps(verdict, indent=2, default=str))
    else:
        for name, problems in verdict["backends"].items():
            click.echo(f"{name:<13} " + ("ok" if not problems else f"refuses ({len(problems)} setting(s))"))
            for p in problems:
                click.echo(f"  {p}")
        for p in verdict["problems"]:
            click.echo(str(p), err=True)
        for n in verdict["notes"]:
            click.echo(f"note: {n}", err=True)
    if verdict["problems"] or any(verdict["backends"].values()):
        if not as_json:
            raise BridgeError(f"{recipe}: not runnable as checked")
        sys.exit(2)
    if not as_json:
        click.echo(f"OK: {recipe}: {r.name} ({r.method}) valid")
