import click

from ._values import complete_backend


@click.command("run")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--backend", "-b", default=None, shell_complete=complete_backend,
              help="Backend (default: trl, the embedded default).")
@click.option("--smoke", is_flag=True, help="Tiny model of the same family, 2 steps on CPU: catch errors before GPU time.")
@click.option("--dry-run", is_flag=True, help="Export and render everything, print the command, launch nothing.")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories are created.")
def command(recipe: str, overrides: tuple, backend, smoke: bool, dry_run: bool, runs_dir: str) -> None:
    """Train RECIPE on a backend, in the backend's own environment.

    \b
    Validates the recipe (every problem at once) and what the backend can honour, exports the data (cached by
    content), renders the backend config and reward hook, launches the backend as a subprocess, streams its
    output to the terminal and runs/<name>-<backend>-<time>/backend.log, and writes run.json there.
    Ctrl-C stops the backend cleanly; the record then says `interrupted`.
    KEY=VALUE: dotted recipe overrides (train.lr=2e-5 data.train=data/mine), typed and validated like the
    file, recorded in run.json. `bridge validate-recipe` checks without side effects.
    \b
      bridge run recipes/demo_sft.yaml --smoke
      bridge run recipes/qwen25vl_sft_lora.yaml data.train=data/mine train.lr=2e-5 train.max_steps=100
      bridge run --backend llamafactory recipes/qwen25vl_sft_lora.yaml --dry-run
    """
    import sys
    from pathlib import Path

    from ..backends import DEFAULT_BACKEND
    from ..recipe import load_recipe
    from ..runs import execute, format_command, prepare

    echo = lambda s: click.echo(s, err=True)  # noqa: E731  (progress on stderr; the backend's output on stdout)
    r = load_recipe(recipe, overrides)
    name = backend or DEFAULT_BACKEND
    plan = prepare(r, name, Path(runs_dir), smoke=smoke, dry_run=dry_run, recipe_file=str(Path(recipe).resolve()),
                   echo=echo)
    for note in plan.notes:
        echo(f"note: {note}")
    cmd = format_command(plan.launch)
    if dry_run:
        echo(f"rendered: {', '.join(str(p) for p in plan.configs.values())}")
        if plan.reward_hook:
            echo(f"reward hook: {plan.reward_hook}")
        record = plan.record()
        record["status"] = "dry-run"
        from ..runs import write_record

        write_record(plan.run_dir, record)
        echo(f"run dir: {plan.run_dir}")
        click.echo(cmd)
        return
    echo(f"$ {cmd}")
    record = execute(plan, echo=echo)
    if record["status"] == "interrupted":
        sys.exit(130)
    if record["status"] != "ok":
        echo(f"the backend failed (exit code {record.get('return_code')}); see {plan.run_dir / 'backend.log'}")
        sys.exit(1)
