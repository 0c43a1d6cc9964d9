"""Install *the gui-bridge the caller runs* into a backend environment when it does not run from a source
checkout (installed from a wheel): its installed files are packed back into a wheel, byte for byte, and pip
installs that wheel. No index is asked for ``gui-bridge==<version>`` (a built wheel's version is on none) and a
local change to the installed package travels with it.

A wheel is a zip of the package files plus ``<name>-<version>.dist-info/`` with METADATA, WHEEL and RECORD
(the binary distribution format, https://packaging.python.org/en/latest/specifications/binary-distribution-format/)."""
from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Any, Optional

from .errors import BridgeError

DIST = "gui-bridge"
PACKAGE = "bridge"


def running_distribution(package_dir: Optional[Path] = None) -> Any:
    """The installed distribution whose files hold the running ``bridge`` package."""
    from importlib.metadata import PackageNotFoundError, distribution, distributions

    here = (package_dir or Path(__file__).resolve().parent) / "__init__.py"
    cands = [d for d in distributions(path=[str(here.parent.parent)]) if d.metadata["Name"] == DIST]
    try:
        cands.append(distribution(DIST))
    except PackageNotFoundError:
        pass
    for d in cands:
        if any(Path(d.locate_file(f)).resolve() == here.resolve() for f in d.files or ()):
            return d
    raise BridgeError(f"gui-bridge at {here.parent} is neither a source checkout nor an installed distribution "
                      "(no dist-info lists its files)", hint="install it with pip (a wheel or `pip install -e .`)")


def wheel_of(dist: Any, out_dir: Path) -> Path:
    """Pack the installed ``dist`` (package files, METADATA, entry points) into a wheel in ``out_dir``."""
    name, version = dist.metadata["Name"], dist.version
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    files: dict[str, bytes] = {}
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if parts[0] == PACKAGE and "__pycache__" not in parts:   # the package itself (scripts are regenerated)
            files[Path(*parts).as_posix()] = Path(dist.locate_file(f)).read_bytes()
    if f"{PACKAGE}/__init__.py" not in files:
        raise BridgeError(f"the installed {name} {version} lists no {PACKAGE}/ files: cannot pack it")
    for meta in ("METADATA", "entry_points.txt"):
        text = dist.read_text(meta)
        if text is not None:
            files[f"{info}/{meta}"] = text.encode()
    for f in dist.files or ():   # license files (PEP 639: <name>.dist-info/licenses/...)
        parts = Path(str(f)).parts
        if parts[0].endswith(".dist-info") and len(parts) > 2 and parts[1] == "licenses":
            files["/".join((info, *parts[1:]))] = Path(dist.locate_file(f)).read_bytes()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: gui-bridge\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},sha256={_digest(b)},{len(b)}\n" for p, b in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    out = Path(out_dir) / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files.items():
            z.writestr(p, b)
    return out


def _digest(b: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
