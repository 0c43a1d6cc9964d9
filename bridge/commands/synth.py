import click

from ..environments import ENVIRONMENTS   # a plain dict: imports no environment code


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, dir_okay=True))
@click.option("--episodes", "-n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Number of episodes to draw (with --env: per task).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed = identical files; "
              "with --env: the first episode seed of each task).")
@click.option("--platform", type=click.Choice(["android", "desktop", "mixed"]), default="mixed", show_default=True,
              help="Phone screens (270x540), desktop screens (640x400), or both interleaved.")
@click.option("--split", default="train", show_default=True, help="Value of the episodes' `split` field.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--task", type=click.Choice(["grid", "grid-clicks"]), default=None,
              help="Draw a learnable task instead of app screens: `grid` = one-step episodes on 112x112 screens "
                   "(click the coloured button of a 3x3 grid, swipe the way an arrow points, type, back, finish) "
                   "that a tiny model learns on CPU; `grid-clicks` = every distinct click screen of the grid once "
                   "(one per colour and cell; a fixed GRPO prompt set; --episodes does not apply) "
                   "(bridge/learnable.py).")
@click.option("--blind", is_flag=True, help="--task: the same episodes on blank screens (the blind baseline).")
@click.option("--grid", type=click.IntRange(1, 4), default=3, show_default=True,
              help="--task grid: buttons per side (click chance 1/grid²).")
@click.option("--colours", default=None, metavar="C1,C2",
              help="--task grid: target colours drawn from [default: red,blue,green,orange].")
@click.option("--env", "env_name", type=click.Choice(sorted(ENVIRONMENTS)), default=None,
              help="Record episodes played by a scripted oracle in this live environment instead of drawing "
                   "screens (MiniWoB++ in headless Chromium: real rendered screens, DOM boxes as targets).")
@click.option("--tasks", default=None, help="--env: comma-separated tasks [default: every task with an oracle; "
              "`bridge gui-env tasks` lists them].")
@click.option("--pool", "pool_size", type=click.IntRange(min=1), default=2, show_default=True,
              help="--env: browsers playing in parallel.")
@click.option("--max-turns", type=click.IntRange(min=1), default=10, show_default=True,
              help="--env: turns after which an episode is cut (and not recorded).")
def command(out: str, episodes: int, seed: int, platform: str, split: str, overwrite: bool, task, blind, grid,
            colours, env_name, tasks, pool_size, max_turns) -> None:
    """Draw a synthetic GUI dataset into OUT: phone and desktop screenshots with exact element boxes and
    multi-step episodes that together use every action type (6 mixed episodes already cover all of them).

    With --env miniwob, OUT holds oracle episodes recorded in MiniWoB++ instead: --episodes successful
    episodes per task, each step the rendered screenshot, the DOM elements and the oracle's action (a click's
    bbox is the target element's box). Needs Debian's chromium and chromium-driver (`make browser`).
    """
    from ..dataset import open_dataset

    if blind and not task:
        raise click.UsageError("--blind only applies with --task")
    if colours is not None and not task:
        raise click.UsageError("--colours only applies with --task")
    if colours is not None:
        from ..learnable import COLOURS

        unknown = [c for c in colours.split(",") if c not in COLOURS]
        if unknown:
            raise click.BadParameter(f"unknown {', '.join(unknown)} (known: {', '.join(sorted(COLOURS))})",
                                     param_hint="--colours")
    if task and env_name:
        raise click.UsageError("--task and --env are exclusive")
    if task == "grid-clicks":
        from ..learnable import make_click_set

        if blind:
            raise click.UsageError("--blind applies to --task grid only")
        make_click_set(out, grid=grid, split=split, overwrite=overwrite,
                       **({"colours": colours.split(",")} if colours else {}))
    elif task:
        from ..learnable import make_grid_dataset

        make_grid_dataset(out, episodes=episodes, seed=seed, split=split, blind=blind, overwrite=overwrite,
                          grid=grid, **({"colours": colours.split(",")} if colours else {}))
    elif env_name:
        _record(out, env_name, tasks, episodes, seed, split, overwrite, pool_size, max_turns)
    else:
        from ..synth import make_dataset

        for name, value in (("--tasks", tasks),):
            if value is not None:
                raise click.UsageError(f"{name} only applies with --env")
        make_dataset(out, episodes=episodes, seed=seed, platform=platform, overwrite=overwrite, split=split)
    ds = open_dataset(out)
    click.echo(f"wrote {ds.manifest.episodes} episodes, {ds.manifest.steps} steps to {out}")


def _record(out, env_name, tasks, episodes, seed, split, overwrite, pool_size, max_turns) -> None:
    from ..environments import make_pool
    from ..environments.miniwob import check_tasks
    from ..environments.oracles import ORACLES
    from ..environments.record import record_oracle

    names = check_tasks(split_tasks(tasks)) if tasks else sorted(ORACLES)
    with make_pool(env_name, size=min(pool_size, episodes * len(names)), max_turns=max_turns) as pool:
        report = record_oracle(out, pool, names, episodes, seed=seed, split=split, overwrite=overwrite,
                               env_name=env_name)
    if report.failed:
        click.echo(f"note: the oracle failed {len(report.failed)} episode(s), not recorded; further seeds were "
                   f"played instead: " + ", ".join(f"{t}/{s}" for t, s in report.failed), err=True)


def split_tasks(text: str) -> list[str]:
    """``a,b , c`` -> ``["a", "b", "c"]`` (a usage error when empty)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise click.UsageError("--tasks names no task")
    return names
