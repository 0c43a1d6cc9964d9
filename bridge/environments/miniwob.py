"""MiniWoB++ as a canonical GUI environment: the HTML tasks shipped in the ``miniwob`` wheel (pinned in
requirements/dev.txt), run in a headless Debian Chromium (:mod:`.browser`), no network.

The ``miniwob`` package's own Gymnasium environment starts Chromium with flags of its own; here its
``SeleniumInstance`` (task page, seeding, observation and reward read-out) drives our :class:`Browser`
instead, and one browser serves any task: switching task loads another page (~0.1 s) instead of starting
another browser (~1-4 s).

Coordinates: the task area is the top-left 160x210 CSS pixels of the page, screenshot pixel = page pixel
(device scale factor 1), so canonical points and DOM boxes need no conversion. Rewards: MiniWoB's raw task
reward (1 success, -1 failure, partial in a few tasks) by default; ``reward="decayed"`` gives MiniWoB's
time-decayed reward instead, which depends on how fast the policy answers — on a loaded CPU that is the
machine, not the policy. Both are always in ``info``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import BridgeError
from ..schema import Action, Element
from .base import GuiEnv, Observation
from .browser import Browser

#: seconds a task page may take to show its start cover before the load counts as failed
PAGE_TIMEOUT_S = 20.0
REWARDS = ("raw", "decayed")


def _miniwob():
    try:
        import miniwob  # noqa: F401
    except ImportError:
        raise BridgeError("the Python package `miniwob` is not installed",
                          hint="pip install -r requirements/dev.txt (it pins miniwob)") from None
    import miniwob.selenium_instance as si

    return si


def task_names() -> list[str]:
    """Every MiniWoB++ task this package can run (the wheel's ``html/miniwob/*.html``; FlightWoB needs an HTTP
    server and is left out)."""
    si = _miniwob()
    return sorted(p.stem for p in (si.HTML_DIR / "miniwob").glob("*.html"))


def check_tasks(tasks: list[str]) -> list[str]:
    """``tasks`` unchanged, or :class:`BridgeError` naming each unknown one with the closest known names."""
    import difflib

    known = task_names()
    bad = [t for t in tasks if t not in known]
    if bad:
        tips = "; ".join(f"{t!r}" + (f" (did you mean {', '.join(difflib.get_close_matches(t, known, 3))}?)"
                                     if difflib.get_close_matches(t, known, 3) else "") for t in bad)
        raise BridgeError(f"unknown MiniWoB task(s): {tips}", hint=f"{len(known)} tasks: `bridge gui-env tasks`")
    return tasks


@dataclass(frozen=True)
class DomNode:
    """One DOM element as MiniWoB reports it (page pixels, unclipped); what oracles read."""

    ref: int
    parent: int
    tag: str
    text: str
    value: str
    id: str
    classes: str
    box: tuple[float, float, float, float]   # x1, y1, x2, y2
    bg: tuple[float, float, float, float]    # RGBA in [0, 1]
    focused: bool
    tampered: bool
    leaf: bool


def _dom(raw) -> list[DomNode]:
    out = []
    for e in raw:
        x, y, w, h = (float(e[k][0]) for k in ("left", "top", "width", "height"))
        f = [bool(v) for v in e["flags"]]
        out.append(DomNode(int(e["ref"]), int(e["parent"]), str(e["tag"]), str(e["text"]), str(e["value"]),
                           str(e["id"]), str(e["classes"]), (x, y, x + w, y + h),
                           tuple(float(v) for v in e["bg_color"]), f[0], f[1], f[3]))
    return out


def _elements(dom: list[DomNode], width: int, height: int) -> list[Element]:
    """Canonical elements: every DOM element but the page body, clipped to the screenshot; elements wholly
    outside it (hidden text nodes sit at x = -4900) are left out."""
    out = []
    for n in dom:
        if n.parent == 0:
            continue
        x1, y1 = max(0.0, n.box[0]), max(0.0, n.box[1])
        x2, y2 = min(float(width), n.box[2]), min(float(height), n.box[3])
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        meta: dict[str, Any] = {"ref": n.ref}
        if n.classes:
            meta["classes"] = n.classes
        out.append(Element(bbox=(x1, y1, x2, y2), text=n.text or None, role=n.tag, resource_id=n.id or None,
                           clickable=n.leaf or None, meta=meta))
    return out


#: canonical key names (case-insensitive) -> MiniWoB's key syntax (``<Enter>``, ``C-a``; miniwob/constants.py)
_KEY_ALIASES = {"return": "<Enter>", "esc": "<Escape>", "del": "<Delete>", "space": "<Space>",
                "up": "<ArrowUp>", "down": "<ArrowDown>", "left": "<ArrowLeft>", "right": "<ArrowRight>",
                "pageup": "<PageUp>", "pagedown": "<PageDown>"}
_MODIFIERS = {"ctrl": "C-", "control": "C-", "shift": "S-", "alt": "A-", "meta": "M-", "cmd": "M-"}


def miniwob_key(key: str) -> Optional[str]:
    """``Enter`` / ``ctrl+a`` / ``a`` -> MiniWoB's ``<Enter>`` / ``C-a`` / ``a``; None when unknown."""
    from miniwob.constants import WEBDRIVER_SPECIAL_KEYS

    special = {k[1:-1].lower(): k for k in WEBDRIVER_SPECIAL_KEYS}
    *mods, base = key.strip().split("+") if len(key.strip()) > 1 else [key]
    prefix = ""
    for m in mods:
        if m.strip().lower() not in _MODIFIERS:
            return None
        prefix += _MODIFIERS[m.strip().lower()]
    low = base.strip().lower()
    name = special.get(low) or _KEY_ALIASES.get(low) or (base if len(base) == 1 else None)
    return prefix + name if name else None


def _browser_errors() -> tuple:
    """What a dead or failing browser raises: WebDriver errors, and urllib3's when chromedriver is gone."""
    import urllib3
    from selenium.common.exceptions import WebDriverException

    return WebDriverException, urllib3.exceptions.HTTPError, ConnectionError


def _first_line(e: Exception) -> str:
    text = (getattr(e, "msg", None) or str(e)).strip()
    return text.splitlines()[0] if text else type(e).__name__


class MiniWoBEnv(GuiEnv):
    """One browser running MiniWoB++ tasks. ``reset(seed=S, options={"task": T})`` starts an episode of task T
    (default: the ``task`` given here) with MiniWoB's own seeding (same seed, same episode).

    ``reward``: ``raw`` or ``decayed`` (module docstring). ``time_limit_s``: overrides the tasks' episode time
    limit (MiniWoB: 10 s, after which the episode ends with reward -1) — slow CPU models need more.
    ``elements``: include the DOM elements in observations.
    """

    name = "miniwob"

    def __init__(self, task: Optional[str] = None, *, max_turns: int = 10, reward: str = "raw",
                 time_limit_s: Optional[float] = None, data_mode: str = "train", elements: bool = True):
        super().__init__(max_turns=max_turns)
        if reward not in REWARDS:
            raise BridgeError(f"unknown reward {reward!r} (expected {' or '.join(REWARDS)})")
        self._si = _miniwob()
        if task is not None:
            check_tasks([task])
        self.task, self.reward_kind, self.time_limit_s = task, reward, time_limit_s
        self.data_mode, self.with_elements = data_mode, elements
        self.browser: Optional[Browser] = Browser()
        self._inst = None
        self._page: Optional[str] = None
        self.seed: Optional[int] = None

    # ------------------------------------------------------------------------------------------ pages
    def _load(self, task: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.wait import WebDriverWait

        inst = self._si.SeleniumInstance(index=0, subdomain=task, headless=True, data_mode=self.data_mode)
        driver = self.browser.driver
        inst.driver = driver
        driver.get(inst.url)
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(EC.element_to_be_clickable((By.ID, inst.SYNC_SCREEN_ID)))
        inst.inner_width, inst.inner_height = driver.execute_script("return [window.innerWidth, window.innerHeight];")
        if self.time_limit_s is not None:
            driver.execute_script(f"core.EPISODE_MAX_TIME = {int(self.time_limit_s * 1000)};")
        self._inst, self._page = inst, task

    def _restart(self) -> None:
        if self.browser is not None:
            self.browser.close()
        self.browser, self._inst, self._page = Browser(), None, None

    # ------------------------------------------------------------------------------------------ gym API
    def _reset(self, seed, options):
        from miniwob import selenium_actions as sa

        task = options.get("task") or self.task
        if task is None:
            raise BridgeError("no MiniWoB task: pass task= to MiniWoBEnv or options={'task': ...} to reset()")
        if task != self._page:
            check_tasks([task])
        if self.browser is None:
            raise RuntimeError("reset() on a closed environment")
        for attempt in (0, 1):   # a browser that died (out of memory, killed) is replaced once
            try:
                if task != self._page:
                    self._load(task)
                    # A task's first episode after its page loads may render differently from all later ones
                    # (click-tab: 2 pixels of its tab panel's border); one throwaway episode makes a seed's screen
                    # the same whatever the browser played before — online GRPO matches screens by their pixels
                    # (trl_grpo.py image_key, swift_gym.py BridgeEnv.reset).
                    self._inst.reset([{}], [{}], 0)
                # The pointer rests where the last episode clicked; over the new page it can make an element
                # hovered (click-tab's tabs are drawn darker), by timing. Parked outside the task area, it cannot.
                sa.execute_move_coords(self._inst.inner_width - 1, self._inst.inner_height - 1, self.browser.driver)
                obs, infos = [{}], [{}]
                self._inst.reset(obs, infos, seed)
                break
            except _browser_errors() as e:
                if attempt:
                    raise BridgeError(f"MiniWoB task {task} (seed {seed}): the browser failed twice: "
                                      f"{_first_line(e)}") from None
                self._restart()
        self.task, self.seed = task, seed
        return self._observation(obs[0]), {"task": task, "seed": seed}

    def _step(self, action: Optional[Action]):
        try:
            return self._step_in_page(action)
        except _browser_errors() as e:   # the next reset replaces a dead browser; this episode is lost
            raise BridgeError(f"MiniWoB task {self.task} (seed {self.seed}), turn {self.turn}: the browser failed: "
                              f"{_first_line(e)}") from None

    def _step_in_page(self, action: Optional[Action]):
        inst = self._inst
        # The task's clock may have ended the episode while the policy was thinking. Then the page shows its
        # start cover again, and a click would silently start a new episode: report the end instead.
        invalid = skipped = None
        if inst.get_metadata()["done"]:
            skipped = "the episode had already ended (the task's clock ran out)"
        else:
            invalid = "no action (the policy's output did not parse)" if action is None else self._perform(action)
        md = inst.get_metadata()
        done = bool(md["done"])
        info = {"task": self.task, "seed": self.seed, "raw_reward": float(md["raw_reward"]) if done else 0.0,
                "env_reward": float(md["env_reward"]) if done else 0.0, "reason": md.get("reason")}
        if invalid:
            info["invalid_action"] = invalid
        if skipped:
            info["not_performed"] = skipped
        stopped = action is not None and action.type == "status" and not invalid
        if stopped and not done:
            info["stopped_by_agent"] = action.status
        reward = info["raw_reward" if self.reward_kind == "raw" else "env_reward"]
        if done or stopped:
            raw = inst.get_empty_observation()
        else:
            raw, _ = inst.get_observation(use_cached_fields=True)
        return self._observation(raw), reward, done or stopped, info

    def _perform(self, a: Action) -> Optional[str]:
        """Do ``a`` in the page; the reason it cannot be done, or None."""
        from miniwob import selenium_actions as sa

        driver = self._inst.driver
        w, h = self._inst.task_width, self._inst.task_height
        for p in (a.point, a.end_point):
            if p is not None and not (0 <= p[0] <= w and 0 <= p[1] <= h):
                return f"point {list(p)} outside the {w}x{h} screen"
        t = a.type
        if t in ("click", "double_click", "drag") and a.point is None:
            return f"{t} without a point"
        if t == "click":
            sa.execute_click_coords(a.point[0], a.point[1], driver)
        elif t == "double_click":
            sa.execute_dblclick_coords(a.point[0], a.point[1], driver)
        elif t == "drag":
            if a.end_point is None:
                return "drag without an end point"
            sa.execute_mousedown_coords(a.point[0], a.point[1], driver)
            sa.execute_mouseup_coords(a.end_point[0], a.end_point[1], driver)
        elif t == "type":
            if a.point is not None:   # a type with a point types into the element there
                sa.execute_click_coords(a.point[0], a.point[1], driver)
            sa.execute_type_text(a.text or "", driver)
        elif t in ("key", "enter"):
            key = "<Enter>" if t == "enter" else miniwob_key(a.key or "")
            if key is None:
                return f"unknown key {a.key!r}"
            sa.execute_press_key(key, driver)
        elif t == "scroll":
            if a.direction not in ("up", "down"):
                return f"scroll {a.direction}: MiniWoB pages scroll vertically only"
            x, y = a.point if a.point is not None else (w / 2, h / 2)
            # finger convention (docs/format.md): the finger moving up scrolls the content down
            amount = self._inst_config().scroll_amount * (1 if a.direction == "up" else -1)
            sa.execute_scroll_coords(x, y, amount, self._inst_config().scroll_time, driver)
        elif t == "wait":
            time.sleep(min(a.duration_ms or 0, 5000) / 1000.0)
        elif t == "status":
            pass
        else:
            return f"{t} has no meaning in a web page"
        return None

    def _inst_config(self):
        from miniwob.action import ActionSpaceConfig

        return ActionSpaceConfig.get_preset("all_supported")

    def _observation(self, raw: dict) -> Observation:
        from PIL import Image

        image = Image.fromarray(raw["screenshot"]).convert("RGB")
        dom = _dom(raw["dom_elements"])
        elements = _elements(dom, image.width, image.height) if self.with_elements else None
        return Observation(image=image, instruction=str(raw["utterance"]), elements=elements,
                           meta={"task": self.task, "seed": self.seed, "turn": self.turn,
                                 "fields": {str(k): str(v) for k, v in raw["fields"]}, "dom": dom})

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        self._inst = None
