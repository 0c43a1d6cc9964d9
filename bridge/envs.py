"""Backend environments: one isolated virtualenv per backend (docs/recipes.md).

Trainers pin incompatible stacks (LLaMA-Factory 0.9.5 needs transformers<=5.6, verl 0.9.1 <5.11, TRL 1.16
pulls 5.23), so each backend gets ``$BRIDGE_HOME/envs/<name>`` (default ``~/.cache/gui-bridge/envs/<name>``),
built from the pinned requirement file the backend ships in its package (``requirements.txt``, e.g.
``bridge/backends/trl/requirements.txt``; an out-of-tree backend's own). gui-bridge itself is installed
into every environment (editable from a checkout, else a wheel of the very files the caller runs) so
backend-side code — reward hooks, launchers — can ``import bridge``.

Installs are idempotent: a stamp records the hash of the requirement file's pins; an unchanged file is a no-op,
a changed file triggers a reinstall, ``force`` rebuilds from scratch. A failed first install removes the
half-built environment. A recipe's ``backends.<name>.python`` replaces the environment entirely.

A backend whose trainer is a user's checkout (``needs_checkout``: VLM-R1) is built from that checkout's own pins with
the backend's requirements.txt as overrides (``bridge env install vlmr1 --checkout PATH``); the stamp remembers the
checkout, the hash covers the merged lines, and a later install without ``--checkout`` reuses the remembered one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import Callable, Optional

from .backends import available_adapters, backend_names, get_adapter
from .errors import BridgeError
from .locks import file_lock
from .selfinstall import running_distribution, wheel_of

STAMP = ".gui-bridge-env.json"


def bridge_home() -> Path:
    """Root of gui-bridge's caches: ``$BRIDGE_HOME`` or ``~/.cache/gui-bridge``."""
    return Path(os.environ.get("BRIDGE_HOME") or Path.home() / ".cache" / "gui-bridge").expanduser()


def env_names() -> list[str]:
    """Backends that ship a requirement file (sorted)."""
    return sorted(n for n, a in available_adapters().items() if a.requirements_file() is not None)


def requirements_file(name: str) -> Path:
    """The backend's pinned requirements (``requirements.txt`` in its package)."""
    p = get_adapter(name).requirements_file() if name in backend_names() else None
    if p is None:
        raise BridgeError(f"no environment definition for backend {name!r} (requirements.txt in its package)",
                          hint="known environments: " + ", ".join(env_names()) +
                          f"; or name an interpreter in the recipe: backends.{name}.python")
    return p


def requirement_lines(name: str, checkout: Optional[Path] = None) -> list[str]:
    """The pins (comments and blank lines dropped); for a ``needs_checkout`` backend, the lines merged from
    ``checkout`` (a :class:`BridgeError` when it is not a usable checkout)."""
    adapter = get_adapter(name) if name in backend_names() else None
    if adapter is not None and adapter.needs_checkout:
        if checkout is None:
            raise BridgeError(f"the {name} environment is built from a checkout of its trainer; none was given",
                              hint=f"bridge env install {name} --checkout /path/to/checkout")
        return adapter.env_requirements(Path(checkout))
    lines = []
    for raw in requirements_file(name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def requirements_hash(name: str, checkout: Optional[Path] = None) -> str:
    """Hash of the pins only (comments and blank lines do not count), so editing a comment is not a change."""
    return hashlib.sha256("\n".join(requirement_lines(name, checkout)).encode()).hexdigest()


def env_checkout(name: str) -> Optional[Path]:
    """The checkout a ``needs_checkout`` environment was built from (its stamp), None when unknown."""
    try:
        c = json.loads((env_dir(name) / STAMP).read_text()).get("checkout")
    except (OSError, ValueError):
        return None
    return Path(c) if c else None


def env_dir(name: str) -> Path:
    return bridge_home() / "envs" / name


def env_python(name: str) -> Path:
    """The environment's interpreter. Children started from this process import *this* checkout's ``bridge``."""
    use_this_checkout()
    d = env_dir(name)
    return d / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass
class EnvStatus:
    name: str
    path: Path
    state: str            # "ok" | "outdated" | "missing"
    stamp: dict

    @property
    def python(self) -> Path:
        return env_python(self.name)


def status(name: str) -> EnvStatus:
    """Whether the environment exists and matches its requirement file."""
    requirements_file(name)
    d = env_dir(name)
    stamp: dict = {}
    try:
        stamp = json.loads((d / STAMP).read_text())
    except (OSError, ValueError):
        pass
    if not stamp or not env_python(name).exists():
        state = "missing"
    elif stamp.get("requirements_sha256") != _hash_or_none(name, stamp.get("checkout")):
        state = "outdated"
    elif _bridge_source() == "dist" and stamp.get("bridge_source") != "dist":
        state = "outdated"   # a released gui-bridge must not run a checkout's tree (checkouts: use_this_checkout)
    else:
        state = "ok"
    return EnvStatus(name, d, state, stamp)


def _hash_or_none(name: str, checkout: Optional[str]) -> Optional[str]:
    try:
        return requirements_hash(name, Path(checkout) if checkout else None)
    except BridgeError:   # the remembered checkout is gone or unreadable: the environment no longer matches
        return None


def _needs_checkout(name: str) -> bool:
    """A registered backend built from its trainer's checkout (an environment with no adapter: no)."""
    return name in backend_names() and get_adapter(name).needs_checkout


def install_command(name: str) -> str:
    if _needs_checkout(name):
        return f"bridge env install {name} --checkout /path/to/checkout"
    return f"bridge env install {name}"


def source_checkout() -> Optional[Path]:
    """The gui-bridge source tree when running from a checkout (editable install), else None."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "gui-bridge"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _bridge_source() -> str:
    return str(source_checkout() or "dist")


def use_this_checkout() -> None:
    """Put this checkout first on ``PYTHONPATH`` for every child process (backend launches, checks, exports).

    The environments are one per machine and shared by every checkout on it; their editable install points at
    whichever checkout built them. ``PYTHONPATH`` entries precede site-packages, so a backend started from any
    checkout runs that checkout's ``bridge`` (two checkouts and two concurrent runs coexist)."""
    root = source_checkout()
    if root is None:
        return
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != str(root):
        os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in parts if p != str(root)])


def core_requirements() -> list[str]:
    """gui-bridge's own runtime dependencies (no extras), from its installed metadata."""
    try:
        reqs = requires("gui-bridge") or []
    except PackageNotFoundError:
        reqs = []
    return [r for r in reqs if "extra ==" not in r]


def bridge_install_args() -> list[str]:
    """pip arguments that install the gui-bridge the caller runs: its checkout (editable), else a wheel packed from
    its installed files (:mod:`bridge.selfinstall`, into ``$BRIDGE_HOME/wheels``) — never ``gui-bridge==VERSION``
    from an index, which has no build of a local wheel."""
    checkout = source_checkout()
    if checkout is not None:
        return ["-e", str(checkout)]
    out = bridge_home() / "wheels"
    out.mkdir(parents=True, exist_ok=True)
    return ["--force-reinstall", str(wheel_of(running_distribution(), out))]


def _run(argv: list[str], echo: Callable[[str], None]) -> None:
    echo("$ " + " ".join(argv))
    proc = subprocess.run(argv)
    if proc.returncode != 0:
        raise BridgeError(f"command failed with exit code {proc.returncode}: {' '.join(argv)}")


def install(name: str, force: bool = False, echo: Callable[[str], None] = print,
            checkout: Optional[Path] = None) -> EnvStatus:
    """Create or update the environment of backend ``name``; returns its status (``ok``). Two concurrent installs
    of one environment take turns (:func:`bridge.locks.file_lock`): the second finds it up to date. ``checkout``:
    the trainer checkout of a ``needs_checkout`` backend (default: the one the environment remembers)."""
    requirements_file(name)
    if not _needs_checkout(name):
        checkout = None
    elif checkout is None:
        checkout = env_checkout(name)
    checkout = Path(checkout).expanduser().resolve() if checkout is not None else None
    lines = requirement_lines(name, checkout)   # a bad checkout fails here, before anything is built
    with file_lock(env_dir(name).with_name(f".{name}.lock"), f"the {name} environment build", echo=echo):
        return _install(name, force, echo, checkout, lines)


def _install(name: str, force: bool, echo: Callable[[str], None], checkout: Optional[Path] = None,
             lines: Optional[list[str]] = None) -> EnvStatus:
    req = requirements_file(name)
    st = status(name)
    digest = requirements_hash(name, checkout)
    stale_source = _bridge_source() == "dist" and st.stamp.get("bridge_source") != "dist"
    if not force and st.state != "missing" and st.stamp.get("requirements_sha256") == digest and not stale_source:
        if checkout is not None and st.stamp.get("checkout") != str(checkout):   # same pins, another checkout
            (st.path / STAMP).write_text(json.dumps({**st.stamp, "checkout": str(checkout)}, indent=2))
        echo(f"{name}: up to date ({st.path})")
        return status(name)
    bridge_args = bridge_install_args()   # before the long install: a gui-bridge that cannot be installed fails now
    d = st.path
    fresh = force or not env_python(name).exists()
    if fresh and d.exists():
        shutil.rmtree(d)
    t0 = time.time()
    try:
        # An update that fails half-way must not look current: drop the stamp first.
        (d / STAMP).unlink(missing_ok=True)
        if fresh:
            d.parent.mkdir(parents=True, exist_ok=True)
            _run([sys.executable, "-m", "venv", str(d)], echo)
        py = str(env_python(name))
        pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
        if checkout is not None:   # the merged lines, kept beside the environment for the record
            req = d / "requirements.gui-bridge.txt"
            req.write_text(f"# {name} pins of {checkout} merged with {requirements_file(name)}\n"
                           + "\n".join(lines or []) + "\n", encoding="utf-8")
        # One resolver pass over the backend pins and bridge's own deps keeps them consistent.
        _run(pip + ["-r", str(req)] + core_requirements(), echo)
        _run(pip + ["--no-deps"] + bridge_args, echo)
    except BaseException:
        if fresh:
            shutil.rmtree(d, ignore_errors=True)  # never leave a half-built env that looks usable
        raise
    stamp = {"requirements": str(req), "requirements_sha256": digest,
             "bridge_source": _bridge_source(), "python": sys.version.split()[0],
             "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - t0, 1)}
    if checkout is not None:
        stamp["checkout"] = str(checkout)
    (d / STAMP).write_text(json.dumps(stamp, indent=2))
    echo(f"{name}: installed in {stamp['seconds']} s ({d})")
    return status(name)


def resolve_python(backend: str, override: Optional[str] = None) -> str:
    """The interpreter that runs ``backend``: a recipe's ``backends.<name>.python`` or bridge's environment.

    Raises a :class:`BridgeError` with the exact command to fix a missing or outdated environment."""
    if override:
        exe = shutil.which(override) if os.sep not in override else override
        if not exe or not Path(exe).exists():
            raise BridgeError(f"backends.{backend}.python: interpreter not found: {override}")
        return str(exe)
    st = status(backend)
    if st.state == "missing":
        raise BridgeError(f"the {backend} environment is not installed ({st.path})",
                          hint=f"fix: {install_command(backend)}   (or set backends.{backend}.python in the recipe)")
    if st.state == "outdated":
        raise BridgeError(f"the {backend} environment is out of date: its requirements.txt or the gui-bridge "
                          f"source changed since it was built ({st.path})", hint=f"fix: {install_command(backend)}")
    return str(st.python)


_VERSIONS_SNIPPET = """
import json, sys
from importlib.metadata import version, PackageNotFoundError
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        out[name] = version(name)
    except PackageNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


def package_versions(python: str, packages: list[str] | tuple[str, ...]) -> dict[str, Optional[str]]:
    """Versions of ``packages`` as installed for interpreter ``python`` (read with that interpreter)."""
    try:
        proc = subprocess.run([python, "-c", _VERSIONS_SNIPPET, *packages], capture_output=True, text=True,
                              timeout=120)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as e:
        return {"error": f"could not read versions: {e}"}
