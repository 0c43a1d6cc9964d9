"""The CLI shell: exit codes of ctx.exit, user errors without traceback, unknown commands."""
import click
import pytest

from bridge import cli as cli_mod
from bridge.errors import BridgeError


@pytest.fixture
def extra_commands():
    @click.command()
    @click.pass_context
    def exits3(ctx):
        ctx.exit(3)

    @click.command()
    def fails():
        raise BridgeError("bad input", hint="fix it")

    cli_mod.cli.add_command(exits3, "exits3")
    cli_mod.cli.add_command(fails, "fails")
    yield
    cli_mod.cli.commands.pop("exits3")
    cli_mod.cli.commands.pop("fails")


def test_ctx_exit_code_is_kept(extra_commands):
    with pytest.raises(SystemExit) as e:
        cli_mod.main(["exits3"])
    assert e.value.code == 3


def test_bridge_error_is_a_message(extra_commands, capsys):
    with pytest.raises(SystemExit) as e:
        cli_mod.main(["fails"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: bad input" in err and "fix it" in err and "Traceback" not in err


def test_unknown_command():
    with pytest.raises(SystemExit) as e:
        cli_mod.main(["no-such-command"])
    assert e.value.code == 2


def test_help_exits_zero(capsys):
    cli_mod.main(["--help"])  # returns normally: exit 0
    assert "Commands:" in capsys.readouterr().out
