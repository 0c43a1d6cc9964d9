import click

from ._values import complete_backend_or_all, complete_style


@click.command("convert")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.argument("out", required=False, metavar="OUT", type=click.Path(file_okay=False))
@click.argument("overrides", nargs=-1, metavar="[data.KEY=VALUE]...")
@click.option("--backend", "-b", required=True, shell_complete=complete_backend_or_all,
              help="Backend name, or 'all' for every backend supporting the method.")
@click.option("--style", "-s", required=True, shell_complete=complete_style,
              help="Style: qwen2vl, qwen25vl, qwen3vl, gui-r1, agentcpm, uitars, seed.")
@click.option("--method", "-m", type=click.Choice(["sft", "grpo"]), default="sft", show_default=True)
@click.option("--out", "-o", "out_alias", type=click.Path(file_okay=False), hidden=True)   # the old spelling
@click.option("--history", type=click.IntRange(min=0), default=4, show_default=True, help="Previous steps described in the prompt.")
@click.option("--prev-image", is_flag=True, help="Also show the previous screenshot.")
@click.option("--think", is_flag=True, help="Ask for / render a thought before the action.")
@click.option("--min-pixels", type=click.IntRange(min=1), default=None, help="Processor min_pixels (default: the style's).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Processor max_pixels (default: the style's).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Export at most this many samples.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
def command(dataset, out, overrides, backend, style, method, out_alias, history, prev_image, think, min_pixels,
            max_pixels, limit, as_json) -> None:
    """Write DATASET (canonical) into OUT (a new directory) as BACKEND's training data, rendered with STYLE.

    \b
    With --backend all, one sub-directory per backend that supports METHOD:
      bridge convert data/synth exports/ --backend all --style qwen2vl --method grpo
    Images are referenced by absolute path (never copied). data.KEY=VALUE: the recipe's data settings as
    dotted overrides (data.history=2 data.think=true data.max_pixels=1003520), typed and checked like a recipe.
    """
    import json
    from pathlib import Path

    from ..backends import available_adapters, backend_names, get_adapter
    from ..errors import BridgeError
    from ..runs import export_dataset, make_style
    from ..styles.base import PromptOptions

    from ..recipe import data_overrides
    from ._args import check_pixels
    from ._values import is_override, one_out

    if out and is_override(out):   # `--out X data.k=v` (or no OUT): the first override landed in OUT
        out, overrides = None, (out, *overrides)
    out = one_out(out, out_alias)

    check_pixels(min_pixels, max_pixels)          # the options' own words, before the recipe model says it
    d = data_overrides({"train": dataset, "style": style, "history": history, "prev_image": prev_image,
                        "think": think, "min_pixels": min_pixels, "max_pixels": max_pixels}, overrides)
    style = d.style
    check_pixels(d.min_pixels, d.max_pixels)
    options = PromptOptions(history=d.history, prev_image=d.prev_image, think=d.think, min_pixels=d.min_pixels,
                            max_pixels=d.max_pixels)
    style_obj = make_style(style, options)
    out_dir = Path(out)
    if out_dir.exists():
        raise BridgeError(f"{out_dir} already exists", hint="choose another OUT or remove it")
    if backend == "all":
        targets = {n: a for n, a in available_adapters().items() if method in a.methods}
        if not targets:
            raise BridgeError(f"no installed adapter supports method {method!r}")
        dirs = {n: out_dir / n for n in targets}
    else:
        targets = {backend: get_adapter(backend)}
        if method not in targets[backend].methods:
            raise BridgeError(f"backend {backend!r} does not support method {method!r}",
                              hint="backends supporting it: " + ", ".join(
                                  n for n, a in available_adapters().items() if method in a.methods))
        dirs = {backend: out_dir}
    reports = {}
    try:
        for name, adapter in targets.items():
            result, report = export_dataset(adapter, dataset, style_obj, method, dirs[name], None, limit)
            reports[name] = {"out": str(result.out), "samples": result.samples, "refused": result.refused,
                             "files": {k: str(v) for k, v in result.files.items()}}
            if not as_json:
                click.echo(f"{name:<13} {report.summary()} -> {result.out}")
                for role, path in result.files.items():
                    click.echo(f"{'':<13}   {role}: {path}")
    except BaseException:
        if backend == "all":   # all or nothing: no partial set of exports
            import shutil

            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if as_json:
        click.echo(json.dumps({"style": style, "method": method, "backends": reports}, indent=2))
    skipped = [n for n in backend_names() if backend == "all" and n not in targets]
    if skipped and not as_json:
        click.echo(f"(not exported: {', '.join(skipped)} — adapter missing or no {method} support)", err=True)
