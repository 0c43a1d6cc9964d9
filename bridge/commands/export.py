import click


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("out", required=False, metavar="OUT", type=click.Path(file_okay=False))
@click.option("--out", "-o", "out_alias", type=click.Path(file_okay=False), hidden=True)   # the old spelling
@click.option("--merge-lora", is_flag=True, help="Fold a LoRA adapter into the base weights (a plain model any "
              "server loads); without it a LoRA run exports the adapter and the command serves it on the base.")
@click.option("--python", "python", default=None, help="Interpreter to export with (default: the run's backend env).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(run_dir, out, out_alias, merge_lora, python, as_json):
    """Turn RUN_DIR's trained output into the model directory OUT a server loads; print the `vllm serve` command.

    \b
    The directory holds the weights (LoRA merged into the base with --merge-lora), the processor with its chat
    template and the image pixel bounds the model trained with. Runs in the run's backend environment.
    The printed command sets the per-prompt image limit and the pixel bounds (--mm-processor-kwargs): served
    with other bounds, the screenshots are resized differently and every predicted coordinate moves.
    \b
      bridge export runs/demo-sft-trl-20250101-120000 models/demo --merge-lora
    """
    import json

    from ._values import one_out

    out = one_out(out, out_alias)
    from ..export import eval_hint, export_run

    echo = lambda s: click.echo(s, err=True)  # noqa: E731
    result = export_run(run_dir, out, merge_lora=merge_lora, python=python, echo=echo)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    what = "merged model" if result.merged else ("LoRA adapter" if result.kind == "lora" else "model")
    echo(f"exported {what} -> {result.out}")
    echo("serve it with:")
    click.echo(result.to_dict()["serve_command"])
    echo("then score it with:\n  " + eval_hint(result))
