"""Headless Chromium for GUI environments: found on this machine (or a clear error naming the Debian package),
started with a fresh profile and no network chatter, and never left behind.

No orphans, however the Python process ends:

* chromedriver starts in a session of its own, so a Ctrl-C in the terminal reaches only Python, which closes
  its browsers in order (``atexit`` and :meth:`Browser.close`);
* chromedriver leads a process group holding every Chromium process it starts (crashpad handlers, which
  detach, exit with it — checked by ``tests/test_environments.py``), so one ``killpg`` ends a browser;
* a watchdog process (:mod:`bridge.environments.reaper`) holds the group ids of the live browsers and kills
  them when this process is gone — also after SIGKILL or a crash, when no Python code runs any more.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from typing import Optional

from ..errors import BridgeError

#: Flags every browser gets. Headless, no sandbox (containers run as root), no GPU; the networking flags stop
#: Chromium's background requests, which a machine without network refuses many at a time
#: (/work/.library/env/machines/python.md lists the same set); one device pixel per CSS pixel so that
#: screenshot pixels are page coordinates.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage", "--force-device-scale-factor=1", "--hide-scrollbars", "--mute-audio",
    "--no-default-browser-check", "--disable-extensions",
)
INSTALL_HINT = ("install the Debian packages: apt-get install -y chromium chromium-driver (what `make browser` "
                "does), or point BRIDGE_CHROMIUM and BRIDGE_CHROMEDRIVER at a Chromium and its matching driver")


def find_binaries() -> tuple[str, str]:
    """(chromium, chromedriver) paths; :class:`BridgeError` naming the missing Debian package otherwise."""
    chromium = os.environ.get("BRIDGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("BRIDGE_CHROMEDRIVER") or shutil.which("chromedriver")
    missing = []
    if not chromium or not os.access(chromium, os.X_OK):
        missing.append(("chromium", "chromium", chromium))
    if not driver or not os.access(driver, os.X_OK):
        missing.append(("chromedriver", "chromium-driver", driver))
    if missing:
        what = "; ".join(f"{name} not found{f' at {path}' if path else ' on PATH'} (Debian package `{pkg}`)"
                         for name, pkg, path in missing)
        raise BridgeError(f"the browser environment needs Chromium: {what}", hint=INSTALL_HINT)
    return chromium, driver


def require_selenium():
    """The ``selenium`` module (comes with the ``miniwob`` package); a clear error when it is missing."""
    try:
        import selenium.webdriver as webdriver
    except ImportError:
        raise BridgeError("the Python package `miniwob` (with selenium) is not installed",
                          hint="pip install -r requirements/dev.txt (it pins miniwob)") from None
    return webdriver


class _Reaper:
    """Client side of the watchdog process (one per Python process, started on first use)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc: Optional[subprocess.Popen] = None

    def _send(self, line: str) -> None:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")
                self.proc = subprocess.Popen([sys.executable, "-I", "-S", script], stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True, close_fds=True)
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                pass

    def register(self, pgid: int, directory: str) -> None:
        self._send(f"+ {pgid} {directory}")

    def unregister(self, pgid: int) -> None:
        self._send(f"- {pgid}")

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None


REAPER = _Reaper()
_LIVE: "weakref.WeakSet[Browser]" = weakref.WeakSet()


class Browser:
    """One headless Chromium driven through chromedriver (Selenium). ``driver`` is the WebDriver."""

    def __init__(self, timeout_s: float = 60.0):
        webdriver = require_selenium()
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service

        chromium, chromedriver = find_binaries()
        self.profile = tempfile.mkdtemp(prefix="bridge-chromium-")
        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.binary_location = chromium
        browser = self

        class _Service(Service):
            def start(self):   # register chromedriver's group before it starts Chromium
                super().start()
                browser.pgid = self.process.pid   # it leads its own session, hence its own group
                REAPER.register(browser.pgid, browser.profile)

        # An explicit driver path: Selenium Manager (which would try to download one) is never asked.
        service = _Service(executable_path=chromedriver, popen_kw={"start_new_session": True})
        self.pgid: Optional[int] = None
        self.driver = None
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
            self.driver.set_page_load_timeout(timeout_s)
            self.driver.set_script_timeout(timeout_s)
        except WebDriverException as e:
            self.close()
            text = (e.msg or str(e)).strip()
            raise BridgeError(f"Chromium did not start through {chromedriver}: "
                              f"{text.splitlines()[0] if text else type(e).__name__}",
                              hint="chromium and chromium-driver must be the same version; " + INSTALL_HINT) from None
        except BaseException:
            self.close()
            raise
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self.pgid is None

    def close(self) -> None:
        """Quit the browser; whatever is left of its process group is killed and its profile removed."""
        driver, self.driver = self.driver, None
        if driver is not None:
            try:
                driver.quit()
            except Exception:   # a dead chromedriver: the group kill below does the rest
                pass
        pgid, self.pgid = self.pgid, None
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
            REAPER.unregister(pgid)
        shutil.rmtree(self.profile, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    for browser in list(_LIVE):
        browser.close()
