import click


@click.command("tiny-model")
@click.argument("out", type=click.Path(file_okay=False, dir_okay=True))
@click.option("--arch", type=click.Choice(["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]), default="qwen2_vl", show_default=True,
              help="Real architecture to instantiate at toy size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Weight seed (same seed = identical weights).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def command(out: str, arch: str, seed: int, overwrite: bool) -> None:
    """Build, offline, a tiny random model of a real Qwen-VL architecture in OUT (hidden 64, 2 layers,
    2-block ViT, BPE tokenizer trained from scratch with the real Qwen special-token ids, small-pixel
    processor). It loads with AutoProcessor + AutoModelForImageTextToText and generates on CPU: for tests,
    demos and --smoke runs, not for predictions."""
    from ..tiny import PIXELS, build_tiny_model

    path = build_tiny_model(out, arch=arch, seed=seed, overwrite=overwrite)
    size = sum(p.stat().st_size for p in path.iterdir()) / 1e6
    _, factor, lo, hi = PIXELS[arch]
    click.echo(f"wrote tiny {arch} (seed {seed}, {size:.0f} MB, factor {factor}, min_pixels {lo}, "
               f"max_pixels {hi}) to {path}")
