import click


@click.command("demo")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Directory to create (default ./bridge-demo-<time>).")
def command(out):
    """The whole loop on this machine, offline, in minutes, showing learning: learnable synthetic screens ->
    tiny random Qwen2-VL -> TRL SFT (two stages) -> blind baseline (same SFT, blank screens) -> TRL GRPO with
    bridge rewards from the under-trained stage-1 model -> bridge eval of each -> report (HTML + PNG).

    \b
    Needs only the TRL environment (once: `bridge env install trl`); no GPU, no hub, no server.
    Everything it made stays in the output directory: data, recipes (re-run them with `bridge run`), runs,
    merged models, eval reports and report.html.
    """
    import sys
    from pathlib import Path

    from ..demo import run_demo

    tty = sys.stderr.isatty()

    def status(line: str, new: bool) -> None:
        if tty:
            click.echo("\r\033[K" + line, err=True, nl=False)
        elif new:
            click.echo(line, err=True)

    def echo(s: str) -> None:
        click.echo(("\r\033[K" if tty else "") + s, err=True)

    res = run_demo(Path(out) if out else None, echo=echo, status=status)
    for name, ev in res.evals.items():
        m = ev.get("metrics") or {}
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        echo(f"{name}: step success {pct(m.get('step_success'))}, click accuracy "
             f"{pct(m.get('grounding_accuracy'))}, type accuracy {pct(m.get('type_accuracy'))}, "
             f"parse failures {pct(m.get('parse_failure_rate'))}")
    echo(f"done in {res.seconds / 60:.1f} min; everything is in {res.out}")
    click.echo(f"report: {res.report}")
