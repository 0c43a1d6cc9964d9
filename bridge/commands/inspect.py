import click


@click.command("inspect")
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--episode", "episode_id", default=None, metavar="ID", help="Only this episode (default: all; "
              "with --render, the first).")
@click.option("--step", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only step N (0-based) of the episode(s).")
@click.option("--format", "fmt", type=click.Choice(["pretty", "jsonl"]), default="pretty", show_default=True,
              help="pretty: readable summary; jsonl: canonical JSON, one episode (or step) per line.")
@click.option("--render", "render_out", type=click.Path(dir_okay=False, path_type=str), default=None,
              metavar="OUT.png", help="Draw the step (default 0) on its screenshot: box, point, swipe arrow, caption.")
@click.option("--elements", is_flag=True, help="With --render: also outline the step's UI elements.")
def command(dataset, episode_id, step, fmt, render_out, elements) -> None:
    """Look at a dataset: print episodes, or render one step as a PNG.

    \b
    bridge inspect data/synth --episode synth-0-00003
    bridge inspect data/synth --format jsonl > episodes.jsonl
    bridge inspect data/synth --episode synth-0-00003 --step 2 --render step.png
    """
    from ..dataset import open_dataset
    from ..errors import BridgeError
    from ..render import describe_episode, step_json

    ds = open_dataset(dataset)
    if render_out is not None:
        from ..render import find_episode, render_step

        ep = find_episode(ds, episode_id)
        out = render_step(ds, ep, step or 0, render_out, elements=elements)
        click.echo(f"wrote {out} (episode {ep.episode_id}, step {step or 0})")
        return
    shown = invalid = 0
    from ..stats import read_records

    for lineno, ep, problems in read_records(ds):
        if ep is None:
            invalid += 1
            continue
        if episode_id is not None and ep.episode_id != episode_id:
            continue
        if step is not None and step >= len(ep.steps):
            if episode_id is None:  # listing all episodes: show those that have step N
                continue
            raise BridgeError(f"episode {ep.episode_id!r} has {len(ep.steps)} steps; there is no step {step}")
        shown += 1
        if fmt == "jsonl":
            click.echo(ep.to_json_line() if step is None else step_json(ep, step))
        else:
            click.echo(describe_episode(ep, step=step))
        if episode_id is not None:
            break
    if invalid:
        click.echo(f"warning: {invalid} invalid records were skipped; `bridge validate {dataset}` lists them",
                   err=True)
    if episode_id is not None and not shown:
        raise BridgeError(f"{ds.root}: no episode with id {episode_id!r}")
    if step is not None and not shown:
        raise BridgeError(f"{ds.root}: no episode has a step {step} (steps are numbered from 0)")
