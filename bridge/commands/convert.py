import click


@click.command("convert")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--backend", "-b", required=True, help="Backend name, or 'all' for every backend supporting the method.")
@click.option("--style", "-s", required=True, help="Style: qwen2vl, qwen25vl, qwen3vl, gui-r1, agentcpm, uitars, seed.")
@click.option("--method", "-m", type=click.Choice(["sft", "grpo"]), default="sft", show_default=True)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output directory (must not exist).")
@click.option("--history", type=click.IntRange(min=0), default=4, show_default=True, help="Previous steps described in the prompt.")
@click.option("--prev-image", is_flag=True, help="Also show the previous screenshot.")
@click.option("--think", is_flag=True, help="Ask for / render a thought before the action.")
@click.option("--min-pixels", type=click.IntRange(min=1), default=None, help="Processor min_pixels (default: the style's).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Processor max_pixels (default: the style's).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Export at most this many samples.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
def command(dataset, backend, style, method, out, history, prev_image, think, min_pixels, max_pixels, limit,
            as_json) -> None:
    """Write DATASET (canonical) as BACKEND's training data, rendered with STYLE.

    \b
    With --backend all, one sub-directory per backend that supports METHOD:
      bridge convert data/synth --backend all --style qwen2vl --method grpo --out exports/
    Images are referenced by absolute path (never copied).
    """
    import json
    from pathlib import Path

    from ..backends import available_adapters, backend_names, get_adapter
    from ..errors import BridgeError
    from ..runs import export_dataset, make_style
    from ..styles.base import PromptOptions

    from ._args import check_pixels

    check_pixels(min_pixels, max_pixels)
    options = PromptOptions(history=history, prev_image=prev_image, think=think, min_pixels=min_pixels,
                            max_pixels=max_pixels)
    style_obj = make_style(style, options)
    out_dir = Path(out)
    if out_dir.exists():
        raise BridgeError(f"{out_dir} already exists", hint="choose another --out or remove it")
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
