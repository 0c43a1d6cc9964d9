import click


@click.command("schema")
@click.option("--indent", default=2, show_default=True, help="JSON indentation.")
def command(indent: int) -> None:
    """Print the JSON Schema of one episode record (one line of episodes.jsonl)."""
    import json

    from ..schema import json_schema

    click.echo(json.dumps(json_schema(), indent=indent, ensure_ascii=False))
