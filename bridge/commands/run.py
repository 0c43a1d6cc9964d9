import click

from ._values import complete_backend


@click.command("run")
@click.argument("recipe", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--backend", "-b", default=None, shell_complete=complete_backend,
              help="Backend (default: trl, the embedded default).")
@click.option("--smoke", is_flag=True, help="Tiny model of the same family, 2 steps on CPU: catch errors before GPU time.")
@click.option("--dry-run", is_flag=True, help="Export and render everything, print the command, launch nothing.")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories are created.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue the interrupted or failed run in this directory from its last checkpoint, with the "
                   "backend's own resume (instead of RECIPE).")
@click.option("--fresh-export", is_flag=True,
              help="Rebuild the data export even when a cached one matches (the cache key already covers the data, "
                   "the style's options and the code that renders it).")
def command(recipe, overrides: tuple, backend, smoke: bool, dry_run: bool, runs_dir: str, resume_dir,
            fresh_export: bool) -> None:
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
      bridge run --resume runs/qwen25vl-sft-lora-trl-20260101-120000
    """
    from pathlib import Path

    from ..backends import DEFAULT_BACKEND
    from ..recipe import load_recipe
    from ..runs import execute, format_command, prepare, resume_plan

    echo = lambda s: click.echo(s, err=True)  # noqa: E731  (progress on stderr; the backend's output on stdout)
    if resume_dir:
        if recipe or overrides or backend or smoke or dry_run or fresh_export:
            raise click.UsageError("--resume RUN_DIR takes no RECIPE, KEY=VALUE, --backend, --smoke, --dry-run or "
                                   "--fresh-export: "
                                   "the run continues as recorded")
        plan = resume_plan(Path(resume_dir), echo=echo)
        echo(f"$ {format_command(plan.launch)}")
        _finish(execute(plan, echo=echo), plan, echo)
        return
    if not recipe:
        raise click.UsageError("Missing argument 'RECIPE' (or --resume RUN_DIR).")
    r = load_recipe(recipe, overrides)
    name = backend or DEFAULT_BACKEND
    plan = prepare(r, name, Path(runs_dir), smoke=smoke, dry_run=dry_run, recipe_file=str(Path(recipe).resolve()),
                   echo=echo, fresh_export=fresh_export)
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
    _finish(execute(plan, echo=echo), plan, echo)


def _finish(record: dict, plan, echo) -> None:
    import sys

    if record["status"] == "interrupted":
        if plan.adapter.caps().resume:
            echo(f"resume it: bridge run --resume {plan.run_dir}")
        sys.exit(130)
    if record["status"] != "ok":
        echo(f"the backend failed (exit code {record.get('return_code')}); see {plan.run_dir / 'backend.log'}")
        sys.exit(1)
