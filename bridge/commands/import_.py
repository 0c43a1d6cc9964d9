import click

from ..importers import IMPORTERS
from ._values import complete_style

_FORMATS = "\n".join(f"  {name:<15} {desc}" for name, (_, desc) in IMPORTERS.items())


@click.command("import", help=f"""Import SRC (a dataset in FORMAT) into the canonical dataset OUT.

Every source record is checked like `bridge validate` checks a dataset. Any bad record is reported with its
file, record, field and expected vs found value, and then nothing is written (exit code 2), unless
--skip-invalid is given: then the valid episodes are written and each rejected record is listed with its
problems in OUT/rejects.jsonl.

\b
Formats:
{_FORMATS}
""")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(sorted(IMPORTERS)))
@click.argument("src", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
@click.option("--skip-invalid", is_flag=True,
              help="Write the valid episodes and list rejected source records in OUT/rejects.jsonl.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only once the import succeeded).")
@click.option("--images", type=click.Choice(["ref", "link", "symlink", "copy"]), default="ref", show_default=True,
              help="ref: reference source screenshots where they are (OUT's manifest records the source folder "
                   "as image_root; nothing is copied, so keep the source in place). link/symlink/copy: place "
                   "them in OUT/images for a self-contained dataset (hard link falls back to symlink). Images "
                   "embedded as bytes are always written to OUT/images.")
@click.option("--split", default=None, help="Set the split of every imported episode (e.g. train, test).")
@click.option("--platform", type=click.Choice(["android", "ios", "web", "desktop"]), default=None,
              help="Override the platform of every episode (default: what the format implies, usually android).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for large sources [default: CPUs available; 1 = no workers].")
@click.option("--style", "style_name", default=None, shell_complete=complete_style,
              help="Trainer formats (trl, llamafactory, swift, verl, vlmr1): the style the targets are written in "
                   "[default: the one export.json next to the data names].")
@click.option("--min-pixels", type=click.IntRange(min=1), default=None,
              help="Trainer formats: the processor bounds the targets were written for [default: export.json, "
                   "else the style's].")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None)
def command(fmt: str, src: str, out: str, skip_invalid: bool, overwrite: bool, images: str, split, platform,
            jobs, style_name, min_pixels, max_pixels) -> None:
    from ..importers.base import run_import

    report = run_import(fmt, src, out, skip_invalid=skip_invalid, overwrite=overwrite, images=images,
                        split=split, platform=platform, jobs=jobs, style=style_name, min_pixels=min_pixels,
                        max_pixels=max_pixels)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"imported {report.episodes} episode(s), {report.steps} step(s) from {src} into {out}")
    if report.rejected:
        click.echo(f"rejected {report.rejected} source record(s) ({report.problems} problem(s)); "
                   f"see {report.rejects_path}", err=True)
        if report.episodes == 0:
            click.echo("warning: every source record was rejected; the dataset is empty", err=True)
