import click


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, dir_okay=True))
@click.option("--episodes", "-n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Number of episodes to draw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed = identical files).")
@click.option("--platform", type=click.Choice(["android", "desktop", "mixed"]), default="mixed", show_default=True,
              help="Phone screens (270x540), desktop screens (640x400), or both interleaved.")
@click.option("--split", default="train", show_default=True, help="Value of the episodes' `split` field.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def command(out: str, episodes: int, seed: int, platform: str, split: str, overwrite: bool) -> None:
    """Draw a synthetic GUI dataset into OUT: phone and desktop screenshots with exact element boxes and
    multi-step episodes that together use every action type (6 mixed episodes already cover all of them)."""
    from ..dataset import open_dataset
    from ..synth import make_dataset

    path = make_dataset(out, episodes=episodes, seed=seed, platform=platform, overwrite=overwrite, split=split)
    ds = open_dataset(path)
    click.echo(f"wrote {ds.manifest.episodes} episodes, {ds.manifest.steps} steps to {path}")
