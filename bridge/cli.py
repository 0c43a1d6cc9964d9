"""The ``bridge`` command line. Each sub-command lives in its own module under ``bridge/commands/`` and
exposes a Click object named ``command``; it is imported only when it is run or asked for help, and must keep
heavy imports (torch, transformers, trainers) inside its function body so ``bridge --help`` stays light."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from . import __version__


def _module_name(command: str) -> str:
    name = command.replace("-", "_")
    return name + "_" if name in ("import", "eval") else name


def _command_name(module: str) -> str:
    return module.rstrip("_").replace("_", "-")


class LazyGroup(click.Group):
    """A group whose sub-commands are the modules of ``bridge.commands``, imported on demand."""

    def list_commands(self, ctx):
        from . import commands

        names = [_command_name(m.name) for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
        return sorted(names)

    def get_command(self, ctx, name):
        if name in self.commands:  # registered in code (tests, plugins)
            return self.commands[name]
        if name not in self.list_commands(ctx):
            return None
        module = importlib.import_module(f"bridge.commands.{_module_name(name)}")
        return module.command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="gui-bridge")
def cli():
    """gui-bridge: one GUI-trajectory format, one reward library, every trainer.

    \b
    Typical flow:
      bridge synth data/synth --episodes 8          # or: bridge import seed-steps SRC data/mine
      bridge validate data/synth
      bridge convert data/synth exports/ --backend all --style qwen2vl --method sft
      bridge run recipes/demo_sft.yaml              # TRL by default; --backend llamafactory|swift|verl|vlmr1
      bridge compare runs/*
    """


def main(argv=None) -> None:
    """Console entry point: user errors print a located message and exit 2, never a traceback."""
    from .errors import BridgeError

    try:
        # Without standalone mode click *returns* the code of ctx.exit(n) instead of exiting with it.
        rc = cli.main(args=argv, prog_name="bridge", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except BridgeError as e:
        click.echo(f"error: {e.capped()}", err=True)
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
