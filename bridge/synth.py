"""Synthetic GUI episodes: phone and desktop screenshots drawn with PIL, with exact element boxes.

``make_dataset(out, episodes=N, seed=S)`` writes a canonical dataset (through :class:`~bridge.dataset.DatasetWriter`)
of multi-step episodes. It is deterministic: the same arguments give byte-identical PNGs and ``episodes.jsonl``
(PIL's built-in bitmap font, no font files, no clocks, one seeded ``random.Random`` per episode).

What a step carries:

* ``screenshot`` — the current screen (phone 270x540, desktop 640x400: small on purpose, so a tiny model sees
  ~10-15 image tokens); ``extra_images`` — the previous screenshot (from the second step on);
* ``elements`` — every drawn widget: ``bbox`` (half-open pixel box ``[x1, y1, x2, y2]``: pixels ``x1..x2-1``
  are painted), ``text``, ``role``, ``clickable`` and ``meta.fill`` (the widget's main colour, ``#rrggbb``);
* ``action`` — point actions carry ``bbox`` = the target widget's box and ``point`` = its centre; swipes and
  drags carry ``point``/``end_point`` (and swipes the finger ``direction``); ``scroll`` uses the finger convention
  (revealing content further down the list is a finger movement ``up``);
* ``low_instruction`` and ``thought`` — what the step does and why.

Scenarios are picked round-robin (android/desktop interleaved for ``platform="mixed"``), so the first
:data:`MIXED_COVERAGE` mixed episodes already use every action type of :data:`bridge.schema.ACTION_TYPES` and both
``complete`` and ``impossible`` statuses; content (names, texts, colours, list positions) varies with the seed.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from .frames import finger_direction

PHONE_SIZE = (270, 540)
DESKTOP_SIZE = (640, 400)
PLATFORMS = ("android", "desktop", "mixed")
#: The first this-many ``mixed`` episodes cover every action type (checked by the tests).
MIXED_COVERAGE = 6

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]

BG = (242, 242, 247)
CARD = (255, 255, 255)
INK = (32, 33, 36)
MUTED = (110, 112, 120)
BORDER = (190, 192, 200)
WHITE = (255, 255, 255)
MENU = (218, 220, 228)
ACCENTS: tuple[Color, ...] = ((26, 115, 232), (0, 137, 123), (142, 36, 170), (230, 81, 0), (67, 140, 71),
                              (216, 27, 96))
APP_COLORS: dict[str, Color] = {
    "Messages": (52, 168, 83), "Settings": (95, 99, 104), "Gallery": (234, 67, 53), "Shop": (251, 140, 0),
    "Music": (171, 71, 188), "Mail": (66, 133, 244), "Phone": (0, 150, 136), "Camera": (84, 110, 122),
    "Calendar": (30, 136, 229), "Clock": (57, 73, 171), "Maps": (124, 179, 66), "Notes": (249, 168, 37),
    "Weather": (3, 155, 229), "Files": (121, 85, 72), "Browser": (229, 57, 53), "Contacts": (0, 121, 107),
}
FIRST_NAMES = ("Alice", "Bruno", "Chen", "Dana", "Emil", "Fatima", "Grace", "Hugo", "Ines", "Jonas", "Kenji",
               "Lena", "Mateo", "Nora", "Omar", "Priya")
LAST_NAMES = ("Lee", "Diaz", "Novak", "Okafor", "Berg", "Rossi", "Tanaka", "Silva", "Meyer", "Haddad")
MESSAGES = ("See you at 5", "Running 10 minutes late", "Can you call me back?", "Dinner at 7 tonight?",
            "Thanks for the help!", "The meeting moved to 3pm", "On my way", "Happy birthday!")
PRODUCTS = (("Blue backpack", 49.99), ("Steel water bottle", 18.5), ("Wireless mouse", 24.0),
            ("Desk lamp", 32.75), ("Running shoes", 89.9), ("Rain jacket", 64.0), ("Coffee grinder", 41.25),
            ("Yoga mat", 27.0), ("Phone charger", 15.99), ("Notebook set", 9.49), ("Headphones", 59.0),
            ("Sunglasses", 22.3))
SONGS = ("Morning Light", "Blue Horizon", "City Lights", "Slow River", "Paper Planes", "Northern Sky",
         "Golden Hour", "Quiet Storm")
SETTINGS_ROWS = ("Network & internet", "Connected devices", "Apps", "Notifications", "Battery", "Storage",
                 "Sound & vibration", "Display", "Wallpaper", "Accessibility", "Security", "Privacy",
                 "Location", "System")
FONT_SIZES = ("Small", "Default", "Large", "Largest")
FOLDERS = ("Reports", "Invoices", "Projects", "Travel", "Recipes", "Taxes")
FILES = ("draft.txt", "budget.xlsx", "summary.pdf", "notes.txt", "plan.docx", "photo.png", "agenda.pdf",
         "todo.txt")
EXT_COLORS = {"txt": (96, 125, 139), "pdf": (211, 47, 47), "png": (56, 142, 60), "xlsx": (46, 125, 50),
              "docx": (25, 118, 210)}
SHARE_TARGETS = ("Mail", "Messages", "Drive", "Bluetooth", "Nearby")
MISSING_SERVICES = ("PhotoCloud", "PicShare", "SnapVault", "FrameHub")


def _font():
    from PIL import ImageFont

    # The bitmap font renders identically everywhere (FreeType output may differ between builds).
    loader = getattr(ImageFont, "load_default_imagefont", None)
    return loader() if loader else ImageFont.load_default()


def _hex(c: Color) -> str:
    return "#%02x%02x%02x" % c


def _mix(a: Color, b: Color, t: float) -> Color:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def center(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


@dataclass
class Widget:
    """A drawn UI element; ``box`` is half-open (``x2``/``y2`` exclusive)."""

    role: str
    box: Box
    text: Optional[str]
    fill: Color
    clickable: bool = True

    def element(self) -> dict[str, Any]:
        return {"bbox": list(self.box), "text": self.text, "role": self.role, "clickable": self.clickable,
                "meta": {"fill": _hex(self.fill)}}


class Screen:
    """An immediate-mode canvas: each helper draws a widget and records it as an element."""

    def __init__(self, size: tuple[int, int], bg: Color, name: str):
        from PIL import Image, ImageDraw

        self.size, self.bg, self.name = size, bg, name
        self.image = Image.new("RGB", size, bg)
        self.draw = ImageDraw.Draw(self.image)
        self.font = _font()
        self.widgets: list[Widget] = []

    @property
    def w(self) -> int:
        return self.size[0]

    @property
    def h(self) -> int:
        return self.size[1]

    # -- primitives ---------------------------------------------------------------------------------------
    def rect(self, box: Box, fill: Color, outline: Optional[Color] = None, radius: int = 0) -> None:
        x1, y1, x2, y2 = box
        self.draw.rounded_rectangle((x1, y1, x2 - 1, y2 - 1), radius=radius, fill=fill, outline=outline)

    def text_width(self, s: str) -> int:
        return self.font.getbbox(s)[2]

    def fit(self, s: str, width: int) -> str:
        """``s`` cut with '..' so that it fits ``width`` pixels."""
        if self.text_width(s) <= width:
            return s
        while s and self.text_width(s + "..") > width:
            s = s[:-1]
        return s + ".."

    def text(self, xy: tuple[int, int], s: str, fg: Color = INK) -> None:
        self.draw.text(xy, s, fill=fg, font=self.font)

    def text_in(self, box: Box, s: str, fg: Color = INK, align: str = "center", pad: int = 6) -> None:
        x1, y1, x2, y2 = box
        s = self.fit(s, x2 - x1 - 2 * pad)
        tw = self.text_width(s)
        x = x1 + pad if align == "left" else (x2 - pad - tw if align == "right" else (x1 + x2 - tw) // 2)
        self.text((x, (y1 + y2 - 11) // 2), s, fg)

    def add(self, role: str, box: Box, text: Optional[str], fill: Color, clickable: bool = True) -> Widget:
        widget = Widget(role, tuple(int(v) for v in box), text, fill, clickable)  # type: ignore[arg-type]
        self.widgets.append(widget)
        return widget

    # -- widgets ------------------------------------------------------------------------------------------
    def button(self, box: Box, label: str, fill: Color, fg: Color = WHITE, radius: int = 6,
               role: str = "button") -> Widget:
        self.rect(box, fill, radius=radius)
        self.text_in(box, label, fg)
        return self.add(role, box, label, fill)

    def field(self, box: Box, value: str = "", placeholder: str = "", focused: bool = False,
              accent: Color = ACCENTS[0], multiline: bool = False) -> Widget:
        self.rect(box, CARD, outline=accent if focused else BORDER, radius=4)
        if focused:  # a thicker focus ring, inside the box
            x1, y1, x2, y2 = box
            self.draw.rounded_rectangle((x1 + 1, y1 + 1, x2 - 2, y2 - 2), radius=3, outline=accent)
        shown = value + ("|" if focused else "")
        shown, fg = (shown, INK) if value or focused else (placeholder, MUTED)
        if multiline:  # a text area: text starts at the top left
            self.text((box[0] + 6, box[1] + 6), self.fit(shown, box[2] - box[0] - 12), fg)
        else:
            self.text_in(box, shown, fg, align="left")
        return self.add("text_field", box, value or placeholder, CARD)

    def card(self, box: Box, title: str, sub: Optional[str] = None, avatar: Optional[Color] = None,
             right: Optional[str] = None, fill: Color = CARD, role: str = "list_item") -> Widget:
        x1, y1, x2, y2 = box
        self.rect(box, fill, radius=6)
        tx = x1 + 8
        if avatar is not None:
            d = min(y2 - y1 - 10, 26)
            ay = (y1 + y2 - d) // 2
            self.draw.ellipse((x1 + 6, ay, x1 + 6 + d - 1, ay + d - 1), fill=avatar)
            self.text_in((x1 + 6, ay, x1 + 6 + d, ay + d), title[:1].upper(), WHITE, pad=0)
            tx = x1 + 6 + d + 8
        rw = self.text_width(right) + 8 if right else 0
        if sub:
            self.text((tx, y1 + (y2 - y1) // 2 - 12), self.fit(title, x2 - tx - rw - 6), INK)
            self.text((tx, y1 + (y2 - y1) // 2 + 1), self.fit(sub, x2 - tx - rw - 6), MUTED)
        else:
            self.text_in((tx - 6, y1, x2 - rw, y2), title, INK, align="left")
        if right:
            self.text_in((x2 - rw - 4, y1, x2, y2), right, INK, align="right", pad=6)
        return self.add(role, box, title if not right else f"{title} {right}", fill)

    def app_icon(self, x: int, y: int, app: str, size: int = 44, label_fg: Color = WHITE) -> Widget:
        color = APP_COLORS.get(app, ACCENTS[sum(map(ord, app)) % len(ACCENTS)])
        box = (x, y, x + size, y + size)
        self.rect(box, color, radius=10)
        self.text_in(box, app[:1], WHITE, pad=0)
        self.text_in((x - 14, y + size + 3, x + size + 14, y + size + 15), app, label_fg, pad=0)
        return self.add("icon", box, app, color)

    def file_icon(self, x: int, y: int, name: str, size: int = 40, label: bool = True) -> Widget:
        ext = name.rsplit(".", 1)[-1] if "." in name else ""
        if not ext:  # a folder: a tab on top of a body
            color = (240, 180, 40)
            self.rect((x, y + 4, x + 16, y + 10), color, radius=2)
            self.rect((x, y + 8, x + size, y + size), color, radius=3)
        else:
            color = EXT_COLORS.get(ext, (120, 144, 156))
            self.rect((x + 4, y, x + size - 4, y + size), color, radius=3)
            self.text_in((x + 4, y, x + size - 4, y + size), ext.upper()[:4], WHITE, pad=0)
        if label:
            self.text_in((x - 20, y + size + 3, x + size + 20, y + size + 15), name, INK, pad=0)
        return self.add("folder" if not ext else "file", (x, y, x + size, y + size), name, color)


# -- phone and desktop frames ---------------------------------------------------------------------------
def phone(name: str, title: Optional[str] = None, accent: Color = ACCENTS[0], back: bool = False,
          bg: Color = BG, clock: str = "9:41") -> Screen:
    """A phone screen with status bar, optional app bar (title, back arrow) and navigation bar."""
    s = Screen(PHONE_SIZE, bg, name)
    s.rect((0, 0, s.w, 18), _mix(accent, (0, 0, 0), 0.35) if title else (20, 20, 24))
    s.text((8, 3), clock, WHITE)
    s.rect((s.w - 26, 5, s.w - 8, 13), WHITE, radius=1)
    s.add("status_bar", (0, 0, s.w, 18), clock, (20, 20, 24), clickable=False)
    if title:
        s.rect((0, 18, s.w, 54), accent)
        x = 12
        if back:
            s.draw.polygon([(16, 36), (24, 29), (24, 43)], fill=WHITE)
            s.add("button", (8, 24, 32, 48), "Back", accent)
            x = 40
        s.text((x, 30), title, WHITE)
        s.add("app_bar", (0, 18, s.w, 54), title, accent, clickable=False)
    s.rect((0, s.h - 24, s.w, s.h), (0, 0, 0))
    cx, cy = s.w // 2, s.h - 12
    s.draw.polygon([(cx - 70, cy), (cx - 62, cy - 6), (cx - 62, cy + 6)], fill=WHITE)
    s.draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), outline=WHITE)
    s.rect((cx + 58, cy - 5, cx + 68, cy + 5), (0, 0, 0), outline=WHITE)
    s.add("navigation_bar", (0, s.h - 24, s.w, s.h), "Back Home Recents", (0, 0, 0), clickable=False)
    return s


def keyboard(s: Screen) -> None:
    """An on-screen keyboard above the navigation bar (one element: the keys are not targets here)."""
    top = s.h - 24 - 130
    s.rect((0, top, s.w, s.h - 24), (210, 213, 219))
    rows = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for r, keys in enumerate(rows):
        kw = 24
        x0 = (s.w - len(keys) * (kw + 2)) // 2
        for i, k in enumerate(keys):
            box = (x0 + i * (kw + 2), top + 8 + r * 30, x0 + i * (kw + 2) + kw, top + 8 + r * 30 + 26)
            s.rect(box, WHITE, radius=3)
            s.text_in(box, k, INK, pad=0)
    s.rect((60, top + 100, s.w - 60, top + 124), WHITE, radius=3)
    s.add("keyboard", (0, top, s.w, s.h - 24), None, (210, 213, 219), clickable=False)


def home_screen(rng: random.Random, must: str, accent: Color) -> tuple[Screen, Widget]:
    """The launcher: a search pill and a 4-column grid of labelled app icons (including ``must``)."""
    s = phone("home", bg=_mix(accent, (10, 10, 30), 0.6))
    s.rect((14, 30, s.w - 14, 56), CARD, radius=13)
    s.text((28, 37), "Search apps", MUTED)
    s.add("search_bar", (14, 30, s.w - 14, 56), "Search apps", CARD)
    apps = [a for a in APP_COLORS if a != must]
    rng.shuffle(apps)
    apps = apps[:11]
    apps.insert(rng.randrange(12), must)
    target = None
    for i, app in enumerate(apps):
        col, row = i % 4, i // 4
        w = s.app_icon(int(12 + col * 64 + 10), 76 + row * 78, app)
        if app == must:
            target = w
    assert target is not None
    return s, target


def desktop(name: str, title: str, accent: Color, dock_apps: tuple[str, ...] = ("Files", "Mail", "Browser", "Notes"),
            clock: str = "10:24") -> Screen:
    """A desktop: top bar with clock, one maximised window (title bar + buttons) and a bottom dock."""
    s = Screen(DESKTOP_SIZE, (236, 237, 241), name)
    s.rect((0, 0, s.w, 20), (28, 28, 32))
    s.text((8, 4), "Activities", WHITE)
    s.text_in((0, 0, s.w, 20), clock, WHITE)
    s.add("top_bar", (0, 0, s.w, 20), clock, (28, 28, 32), clickable=False)
    s.rect((0, 20, s.w, 44), _mix(accent, (40, 40, 48), 0.55))
    s.text_in((0, 20, s.w, 44), title, WHITE)
    s.add("title_bar", (0, 20, s.w, 44), title, _mix(accent, (40, 40, 48), 0.55), clickable=False)
    for i, (label, color) in enumerate((("Close", (229, 57, 53)), ("Maximize", (67, 160, 71)),
                                        ("Minimize", (251, 192, 45)))):
        x = s.w - 22 - i * 20
        s.draw.ellipse((x, 26, x + 11, 37), fill=color)
        s.add("button", (x, 26, x + 12, 38), label, color)
    s.rect((0, s.h - 28, s.w, s.h), (40, 40, 46))
    s.add("dock", (0, s.h - 28, s.w, s.h), None, (40, 40, 46), clickable=False)
    x = (s.w - len(dock_apps) * 28) // 2
    for i, app in enumerate(dock_apps):
        color = APP_COLORS.get(app, ACCENTS[i % len(ACCENTS)])
        box = (x + i * 28, s.h - 25, x + i * 28 + 22, s.h - 3)
        s.rect(box, color, radius=5)
        s.text_in(box, app[:1], WHITE, pad=0)
        s.add("icon", box, app, color)
    return s


def file_manager(title: str, accent: Color, path: str, items: list[str], selected_side: str = "Home",
                 rename: Optional[tuple[str, str]] = None) -> tuple[Screen, dict[str, Widget]]:
    """A file manager window: sidebar of places, path bar, grid of file/folder icons."""
    s = desktop("files", title, accent)
    s.rect((0, 44, 130, s.h - 28), (228, 229, 234))
    widgets: dict[str, Widget] = {}
    for i, place in enumerate(("Home", "Documents", "Pictures", "Downloads", "Music", "Trash")):
        box = (4, 52 + i * 24, 126, 72 + i * 24)
        fill = _mix(accent, WHITE, 0.75) if place == selected_side else (228, 229, 234)
        s.rect(box, fill, radius=4)
        s.text_in(box, place, INK, align="left")
        widgets["side:" + place] = s.add("list_item", box, place, fill)
    s.rect((130, 44, s.w, s.h - 28), CARD)
    s.rect((138, 50, s.w - 8, 70), (244, 245, 248), outline=BORDER, radius=4)
    s.text_in((138, 50, s.w - 8, 70), path, MUTED, align="left")
    s.add("text_field", (138, 50, s.w - 8, 70), path, (244, 245, 248), clickable=False)
    for i, name in enumerate(items):
        col, row = i % 5, i // 5
        x, y = 160 + col * 92, 84 + row * 78
        if rename and name == rename[0]:
            widgets["icon:" + name] = s.file_icon(x, y, name, label=False)
            box = (x - 40, y + 42, x + 80, y + 58)
            s.rect(box, CARD, outline=accent)
            s.text_in(box, rename[1] + "|", INK, pad=3)
            widgets[name] = s.add("text_field", box, rename[1], CARD)
            continue
        widgets[name] = s.file_icon(x, y, name)
    return s, widgets


# -- episode scripting --------------------------------------------------------------------------------------
@dataclass
class Planned:
    """One planned step: the screen shown, the action taken on it, and the words around it."""

    screen: Screen
    action: dict[str, Any]
    low: str
    thought: str


@dataclass
class Scenario:
    instruction: str
    app: str
    platform: str
    steps: list[Planned] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def step(self, screen: Screen, action: dict[str, Any], low: str, thought: str) -> None:
        self.steps.append(Planned(screen, action, low, thought))


def at(kind: str, target: Widget, **fields: Any) -> dict[str, Any]:
    """A point action on ``target``: bbox = its box, point = its centre."""
    return {"type": kind, "bbox": list(target.box), "point": list(center(target.box)), **fields}


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _price(p: float) -> str:
    return f"${p:.2f}"


# Android scenarios ---------------------------------------------------------------------------------------
def sc_messages(rng: random.Random, accent: Color) -> Scenario:
    """open_app, click, type, click, type, enter, wait, status(complete)."""
    contact, text = rng.choice(FIRST_NAMES), rng.choice(MESSAGES)
    ask = rng.choice((f'Send a message to {contact} saying "{text}"', f'Text {contact}: "{text}"',
                      f'Write "{text}" to {contact} in Messages'))
    sc = Scenario(ask, "Messages", "android")
    s, _ = home_screen(rng, "Messages", accent)
    sc.step(s, {"type": "open_app", "app": "Messages"}, "Open the Messages app",
            "I am on the home screen. Messages is where I can write to " + contact + ", so I open it.")
    others = rng.sample([n for n in FIRST_NAMES if n != contact], 5)

    def inbox() -> tuple[Screen, Widget]:
        s = phone("messages_list", "Messages", accent)
        for i, n in enumerate(others):
            s.card((6, 60 + i * 52, s.w - 6, 108 + i * 52), n, rng.choice(MESSAGES), avatar=ACCENTS[i % 6],
                   right=f"{8 + i}:{10 + 7 * i:02d}")
        fab = s.button((s.w - 104, s.h - 76, s.w - 12, s.h - 38), "+ New chat", accent, radius=12)
        return s, fab

    s, fab = inbox()
    sc.step(s, at("click", fab), "Tap 'New chat'", "The conversation list is open; I start a new chat.")

    def compose(to: str, body: str, focus: str, status: Optional[str] = None) -> tuple[Screen, Widget, Widget]:
        s = phone("compose", "New message", accent, back=True)
        s.text((12, 66), "To:", MUTED)
        to_w = s.field((36, 60, s.w - 10, 86), to, "Name or number", focused=focus == "to", accent=accent)
        if status:
            bw = min(s.text_width(body) + 20, s.w - 60)
            bubble = (s.w - 10 - bw, 110, s.w - 10, 136)
            s.rect(bubble, accent, radius=10)
            s.text_in(bubble, body, WHITE)
            s.add("message", bubble, body, accent, clickable=False)
            s.text((s.w - 10 - s.text_width(status), 140), status, MUTED)
            s.add("label", (s.w - 10 - s.text_width(status), 140, s.w - 10, 151), status, BG, clickable=False)
        body_w = s.field((10, s.h - 64 if focus == "none" else s.h - 194, s.w - 60,
                          s.h - 36 if focus == "none" else s.h - 166),
                         "" if status else body, "Type a message", focused=focus == "body", accent=accent)
        y = body_w.box[1]
        s.button((s.w - 54, y, s.w - 10, y + 28), "Send", accent)
        if focus in ("to", "body"):
            keyboard(s)
        return s, to_w, body_w

    s, _, _ = compose("", "", "to")
    sc.step(s, {"type": "type", "text": contact}, f"Type '{contact}' in the To field",
            "The recipient field is focused, so I type the contact's name.")
    s, _, body_w = compose(contact, "", "none")
    sc.step(s, at("click", body_w), "Tap the message field", "Now I need to focus the message box.")
    s, _, _ = compose(contact, "", "body")
    sc.step(s, {"type": "type", "text": text}, f"Type '{text}'", "The message box is focused; I type the text.")
    s, _, _ = compose(contact, text, "body")
    sc.step(s, {"type": "enter"}, "Press Enter to send", "The text is in place; pressing Enter sends it.")
    s, _, _ = compose(contact, text, "none", status="Sending...")
    sc.step(s, {"type": "wait", "duration_ms": 1000}, "Wait for the message to be sent",
            "The message is still sending; I wait a moment.")
    s, _, _ = compose(contact, text, "none", status="Delivered")
    sc.step(s, {"type": "status", "status": "complete", "text": f"Sent '{text}' to {contact}."},
            "Finish: the message was delivered", "The message shows as delivered, so the task is done.")
    return sc


def sc_settings(rng: random.Random, accent: Color) -> Scenario:
    """scroll, click, select, drag, navigate_back, navigate_home, status(complete)."""
    size = rng.choice(("Large", "Largest", "Small"))
    sc = Scenario(rng.choice((f"Set the font size to {size} and the brightness to maximum, then go home",
                              f"In Settings make the text {size}, turn brightness all the way up and return "
                              f"to the home screen")), "Settings", "android")
    rows = list(SETTINGS_ROWS)

    def listing(offset: int) -> tuple[Screen, dict[str, Widget], Box]:
        s = phone("settings_list", "Settings", accent)
        out = {}
        for i, label in enumerate(rows[offset:offset + 8]):
            y = 60 + i * 50
            out[label] = s.card((6, y, s.w - 6, y + 46), label, avatar=ACCENTS[(i + offset) % 6])
        return s, out, (6, 60, s.w - 6, 60 + 8 * 50)

    s, _, area = listing(0)
    cx, cy = center(area)
    sc.step(s, {"type": "scroll", "direction": "up", "point": [cx, cy]},
            "Scroll down the settings list", "Display is not visible yet; I scroll the list down to find it.")
    s, found, _ = listing(6)
    sc.step(s, at("click", found["Display"]), "Open 'Display'", "Display settings hold font size and brightness.")

    def display(font: str, level: float) -> tuple[Screen, Widget, Widget, Box]:
        s = phone("display", "Display", accent, back=True)
        s.text((12, 66), "Brightness level", INK)
        track = (22, 92, s.w - 22, 98)
        s.rect(track, BORDER, radius=3)
        knob_x = int(track[0] + level * (track[2] - track[0]))
        s.rect((track[0], track[1], knob_x, track[3]), accent, radius=3)
        knob = (knob_x - 8, 87, knob_x + 8, 103)
        s.draw.ellipse((knob[0], knob[1], knob[2] - 1, knob[3] - 1), fill=accent)
        s.add("slider", (track[0], 86, track[2], 104), f"Brightness {int(level * 100)}%", BORDER, clickable=False)
        knob_w = s.add("slider_thumb", knob, "Brightness", accent)
        s.text((12, 124), "Font size", INK)
        drop = s.field((12, 140, s.w - 12, 166), font, accent=accent)
        s.draw.polygon([(s.w - 30, 150), (s.w - 20, 150), (s.w - 25, 156)], fill=MUTED)
        drop.role = "dropdown"
        s.card((6, 184, s.w - 6, 228), "Dark theme", "Off")
        s.card((6, 232, s.w - 6, 276), "Screen timeout", "30 seconds")
        return s, drop, knob_w, track

    start = rng.choice((0.3, 0.4, 0.5))
    s, drop, _, _ = display("Default", start)
    sc.step(s, at("select", drop, text=size), f"Choose '{size}' in the Font size list",
            "The font size dropdown shows Default; I select the requested size.")
    s, _, knob, track = display(size, start)
    end = [float(track[2] - 1), float(center(knob.box)[1])]
    sc.step(s, {**at("drag", knob), "end_point": end, "direction": finger_direction(center(knob.box), end)},
            "Drag the brightness slider to the right end", "Brightness must be maximal: drag the thumb fully right.")
    s, _, _, _ = display(size, 1.0)
    sc.step(s, {"type": "navigate_back"}, "Go back", "Both settings are done; I leave the Display page.")
    s, _, _ = listing(6)
    sc.step(s, {"type": "navigate_home"}, "Go to the home screen", "The task asks to finish on the home screen.")
    s, _ = home_screen(rng, "Settings", accent)
    sc.step(s, {"type": "status", "status": "complete"}, "Finish", "I am on the home screen with both changes made.")
    return sc


def _photo(s: Screen, box: Box, rng_state: int, zoom: float = 1.0) -> Widget:
    x1, y1, x2, y2 = box
    sky = ((135, 190, 235), (250, 180, 120), (120, 200, 220))[rng_state % 3]
    s.rect(box, sky)
    ground = (60 + 20 * (rng_state % 3), 140, 70)
    gy = y1 + int((y2 - y1) * 0.62)
    s.rect((x1, gy, x2, y2), ground)
    r = int(14 * zoom)
    sx = x1 + (x2 - x1) * (0.25 + 0.15 * (rng_state % 4))
    s.draw.ellipse((sx - r, y1 + 30 - r * 0.5, sx + r, y1 + 30 + r * 1.5), fill=(255, 222, 89))
    mx = x1 + (x2 - x1) // 2
    s.draw.polygon([(x1 + 10, gy), (mx - 10, y1 + int(60 / zoom) + 40), (x2 - 30, gy)], fill=(90, 96, 110))
    return s.add("image", box, f"Photo {rng_state % 9 + 1}", sky)


def sc_gallery(rng: random.Random, accent: Color) -> Scenario:
    """swipe, double_click, long_press, status(impossible)."""
    service = rng.choice(MISSING_SERVICES)
    sc = Scenario(rng.choice((f"Zoom into the next photo and share it to {service}",
                              f"Open the next picture, zoom in, then send it with {service}")), "Gallery", "android")
    n = rng.randrange(1, 6)

    def viewer(idx: int, zoom: float = 1.0, sheet: bool = False) -> tuple[Screen, Widget]:
        s = phone("photo_viewer", None, accent, bg=(0, 0, 0))
        s.text((12, 26), f"IMG_{1000 + idx}.jpg", WHITE)
        s.text_in((0, 22, s.w - 8, 36), f"{idx}/9", WHITE, align="right")
        photo = _photo(s, (8, 120, s.w - 8, 380), idx, zoom)
        if sheet:
            top = s.h - 24 - 200
            s.rect((0, top, s.w, s.h - 24), (250, 250, 252), radius=12)
            s.text((16, top + 10), "Share via", INK)
            s.add("sheet", (0, top, s.w, s.h - 24), "Share via", (250, 250, 252), clickable=False)
            for i, target in enumerate(SHARE_TARGETS):
                col, row = i % 4, i // 4
                s.app_icon(20 + col * 62, top + 34 + row * 76, target, size=40, label_fg=INK)
        return s, photo

    s, photo = viewer(n)
    y = center(photo.box)[1]
    start, end = [200.0, y], [70.0, y]
    sc.step(s, {"type": "swipe", "point": start, "end_point": end, "direction": finger_direction(start, end)},
            "Swipe left to the next photo", "This is the current photo; swiping left shows the next one.")
    s, photo = viewer(n + 1)
    sc.step(s, at("double_click", photo), "Double-tap the photo to zoom in", "I double-tap to zoom into it.")
    s, photo = viewer(n + 1, zoom=1.6)
    sc.step(s, at("long_press", photo, duration_ms=800), "Long-press the photo to open the share menu",
            "Zoomed in. A long press opens the share options.")
    s, _ = viewer(n + 1, zoom=1.6, sheet=True)
    sc.step(s, {"type": "status", "status": "impossible", "text": f"{service} is not among the share targets."},
            f"Stop: {service} is not available", f"The share sheet lists {', '.join(SHARE_TARGETS)} but no "
            f"{service}, so the task cannot be done.")
    return sc


def sc_shop(rng: random.Random, accent: Color) -> Scenario:
    """open_app, click, type, enter, answer."""
    items = rng.sample(PRODUCTS, 6)
    product, price = items[rng.randrange(6)]
    sc = Scenario(rng.choice((f"How much does the {product.lower()} cost in the Shop app?",
                              f"Find the price of the {product.lower()} in Shop")), "Shop", "android")
    s, _ = home_screen(rng, "Shop", accent)
    sc.step(s, {"type": "open_app", "app": "Shop"}, "Open the Shop app", "The prices are in the Shop app.")

    def shop(query: str, focused: bool, results: bool) -> tuple[Screen, Widget, dict[str, Widget]]:
        s = phone("shop", "Shop", accent)
        search = s.field((10, 62, s.w - 10, 90), query, "Search products", focused=focused, accent=accent)
        rows = {}
        shown = [(p, c) for p, c in items if query.lower() in p.lower()] if results else items
        for i, (p, c) in enumerate(shown[:6]):
            rows[p] = s.card((6, 100 + i * 50, s.w - 6, 146 + i * 50), p, "In stock", right=_price(c))
        if focused:
            keyboard(s)
        return s, search, rows

    s, search, _ = shop("", False, False)
    sc.step(s, at("click", search), "Tap the search field", "I search for the product instead of scrolling.")
    s, _, _ = shop("", True, False)
    sc.step(s, {"type": "type", "text": product.lower()}, f"Type '{product.lower()}'", "The search box is focused.")
    s, _, _ = shop(product.lower(), True, False)
    sc.step(s, {"type": "enter"}, "Press Enter to search", "The query is typed; I submit it.")
    s, _, rows = shop(product.lower(), False, True)
    sc.step(s, {"type": "answer", "text": _price(price), "meta": {"target_bbox": list(rows[product].box)}},
            f"Answer {_price(price)}", f"The result shows the {product.lower()} at {_price(price)}.")
    return sc


def sc_music(rng: random.Random, accent: Color) -> Scenario:
    """open_app, click, key, status(complete)."""
    songs = rng.sample(SONGS, 6)
    song = songs[rng.randrange(6)]
    sc = Scenario(rng.choice((f"Play '{song}' in Music and turn the volume down",
                              f"Start the song {song}, then lower the volume")), "Music", "android")
    s, _ = home_screen(rng, "Music", accent)
    sc.step(s, {"type": "open_app", "app": "Music"}, "Open Music", "The song is in the Music app.")
    s = phone("music_list", "Music", accent)
    rows = {t: s.card((6, 60 + i * 50, s.w - 6, 106 + i * 50), t, f"Artist {i + 1}", avatar=ACCENTS[i % 6],
                      right=f"{3 + i % 2}:{17 + 5 * i:02d}") for i, t in enumerate(songs)}
    sc.step(s, at("click", rows[song]), f"Tap '{song}'", "I start the requested song.")

    def playing(volume: Optional[int]) -> Screen:
        s = phone("now_playing", "Now playing", accent, back=True)
        s.rect((45, 80, s.w - 45, 260), _mix(accent, WHITE, 0.3), radius=8)
        s.add("image", (45, 80, s.w - 45, 260), "Album art", _mix(accent, WHITE, 0.3), clickable=False)
        s.text_in((0, 270, s.w, 290), song, INK)
        s.button((s.w // 2 - 28, 310, s.w // 2 + 28, 350), "Pause", accent, radius=20)
        if volume is not None:
            s.rect((s.w - 40, 100, s.w - 12, 260), (50, 50, 56), radius=8)
            fill_top = 256 - int(152 * volume / 100)
            s.rect((s.w - 34, fill_top, s.w - 18, 256), WHITE, radius=4)
            s.add("slider", (s.w - 40, 100, s.w - 12, 260), f"Volume {volume}%", (50, 50, 56), clickable=False)
        return s

    sc.step(playing(None), {"type": "key", "key": "volume_down"}, "Press the volume-down key",
            "The song is playing; the hardware key lowers the volume.")
    sc.step(playing(rng.choice((40, 50, 60))), {"type": "status", "status": "complete"}, "Finish",
            "The song plays and the volume is lower.")
    return sc


def sc_mail_phone(rng: random.Random, accent: Color) -> Scenario:
    """open_app, click, ask_user."""
    a, b = rng.sample(FIRST_NAMES, 2)
    cands = [f"{a} {rng.choice(LAST_NAMES)}", f"{b} {rng.choice(LAST_NAMES)}"]
    sc = Scenario(rng.choice(("Email the meeting notes to my manager", "Send my manager the meeting notes by mail")),
                  "Mail", "android")
    s, _ = home_screen(rng, "Mail", accent)
    sc.step(s, {"type": "open_app", "app": "Mail"}, "Open Mail", "I write the email in the Mail app.")
    s = phone("inbox", "Inbox", accent)
    for i in range(6):
        s.card((6, 60 + i * 52, s.w - 6, 108 + i * 52), _name(rng), rng.choice(("Quarterly report", "Lunch?",
               "Invoice 2291", "Trip plan", "Re: notes", "Weekly sync")), avatar=ACCENTS[(i + 2) % 6])
    compose = s.button((s.w - 100, s.h - 76, s.w - 12, s.h - 38), "Compose", accent, radius=12)
    sc.step(s, at("click", compose), "Tap 'Compose'", "I start a new email.")
    s = phone("compose_mail", "Compose", accent, back=True)
    s.field((10, 62, s.w - 10, 88), "", "To", focused=True, accent=accent)
    s.field((10, 94, s.w - 10, 120), "Meeting notes", "Subject")
    keyboard(s)
    question = f"Who is your manager: {cands[0]} or {cands[1]}?"
    sc.step(s, {"type": "ask_user", "text": question, "meta": {"candidates": cands}}, "Ask who the manager is",
            "I do not know who the manager is; several contacts could be, so I ask.")
    return sc


# Desktop scenarios ---------------------------------------------------------------------------------------
def sc_rename(rng: random.Random, accent: Color) -> Scenario:
    """double_click, right_click, click, type, enter, status(complete)."""
    folder = rng.choice(FOLDERS)
    files = rng.sample(FILES, 6)
    old = files[rng.randrange(6)]
    stem, ext = old.rsplit(".", 1)
    new = f"{stem}_{rng.choice(('final', 'v2', 'old', '2024'))}.{ext}"
    sc = Scenario(rng.choice((f'Rename "{old}" in the {folder} folder to "{new}"',
                              f"In {folder}, change the name of {old} to {new}")), "Files", "desktop")
    home_items = ["Documents", "Pictures", "Downloads", folder, "Music", "readme.txt"]
    s, w = file_manager("Home - Files", accent, "Home", home_items)
    sc.step(s, at("double_click", w[folder]), f"Open the '{folder}' folder", f"{old} is inside {folder}.")
    title, path = f"{folder} - Files", f"Home / {folder}"
    s, w = file_manager(title, accent, path, files)
    sc.step(s, at("right_click", w[old]), f"Right-click '{old}'", "The context menu has the Rename command.")
    s, w = file_manager(title, accent, path, files)
    x, y = int(center(w[old].box)[0]), w[old].box[3] - 6
    items = ("Open", "Copy", "Rename", "Move to Trash", "Properties")
    s.rect((x, y, x + 112, y + 4 + 22 * len(items)), (226, 227, 232), outline=BORDER, radius=4)
    s.add("menu", (x, y, x + 112, y + 4 + 22 * len(items)), None, (226, 227, 232), clickable=False)
    menu = {it: s.button((x + 2, y + 2 + 22 * i, x + 110, y + 22 + 22 * i), it, CARD, fg=INK, radius=3,
                         role="menu_item") for i, it in enumerate(items)}
    sc.step(s, at("click", menu["Rename"]), "Choose 'Rename'", "Rename turns the name into an editable field.")
    s, _ = file_manager(title, accent, path, files, rename=(old, ""))
    sc.step(s, {"type": "type", "text": new}, f"Type '{new}'", "The old name is selected; I type the new one.")
    s, _ = file_manager(title, accent, path, files, rename=(old, new))
    sc.step(s, {"type": "enter"}, "Press Enter to confirm", "Enter confirms the new name.")
    s, _ = file_manager(title, accent, path, [new if f == old else f for f in files])
    sc.step(s, {"type": "status", "status": "complete"}, "Finish", f"The file is now called {new}.")
    return sc


def sc_browser(rng: random.Random, accent: Color) -> Scenario:
    """key, type, enter, answer."""
    items = rng.sample(PRODUCTS, 7)
    product, price = items[rng.randrange(7)]
    sc = Scenario(rng.choice((f"On this shop page, what does the {product.lower()} cost?",
                              f"Find the price of the {product.lower()} on the deals page")), "Browser", "desktop")

    def page(find: Optional[str], focused: bool, hit: bool) -> tuple[Screen, dict[str, Widget]]:
        s = desktop("browser", "Today's deals - Browser", accent)
        s.field((8, 48, s.w - 8, 68), "https://shop.example/deals")
        s.text((20, 80), "Today's deals", INK)
        rows = {}
        for i, (p, c) in enumerate(items):
            fill = (255, 236, 140) if hit and p == product else CARD
            rows[p] = s.card((16, 100 + i * 36, s.w - 120, 132 + i * 36), p, right=_price(c), fill=fill)
            s.button((s.w - 112, 104 + i * 36, s.w - 20, 128 + i * 36), "Add to cart", accent, radius=4)
        if find is not None:
            s.rect((s.w - 250, 72, s.w - 8, 98), (226, 227, 232), outline=BORDER, radius=4)
            s.add("find_bar", (s.w - 250, 72, s.w - 8, 98), "Find in page", (226, 227, 232), clickable=False)
            s.field((s.w - 244, 75, s.w - 60, 95), find, "Find in page", focused=focused, accent=accent)
            s.text((s.w - 54, 80), "1/1" if hit else "0/0", MUTED)
        return s, rows

    s, _ = page(None, False, False)
    sc.step(s, {"type": "key", "key": "ctrl+f"}, "Press Ctrl+F to find in the page",
            "The list is long; the find bar locates the product quickly.")
    s, _ = page("", True, False)
    sc.step(s, {"type": "type", "text": product.lower()}, f"Type '{product.lower()}'", "The find bar is focused.")
    s, _ = page(product.lower(), True, False)
    sc.step(s, {"type": "enter"}, "Press Enter to search", "Enter jumps to the match.")
    s, rows = page(product.lower(), True, True)
    sc.step(s, {"type": "answer", "text": _price(price), "meta": {"target_bbox": list(rows[product].box)}},
            f"Answer {_price(price)}", f"The highlighted row shows {product.lower()} at {_price(price)}.")
    return sc


def sc_move_and_mail(rng: random.Random, accent: Color) -> Scenario:
    """drag, click, click, ask_user."""
    files = rng.sample(FILES, 5)
    doc = files[rng.randrange(5)]
    a, b, c = rng.sample(FIRST_NAMES, 3)
    cands = [f"{a} {rng.choice(LAST_NAMES)}", f"{b} {rng.choice(LAST_NAMES)}", f"{c} {rng.choice(LAST_NAMES)}"]
    sc = Scenario(f"Move {doc} into Documents, then email it to my team lead", "Files", "desktop")
    s, w = file_manager("Downloads - Files", accent, "Home / Downloads", files, selected_side="Downloads")
    end = list(center(w["side:Documents"].box))
    sc.step(s, {**at("drag", w[doc]), "end_point": end, "direction": finger_direction(center(w[doc].box), end)},
            f"Drag '{doc}' onto Documents in the sidebar", "Dropping the file on Documents moves it there.")
    s, _ = file_manager("Downloads - Files", accent, "Home / Downloads", [f for f in files if f != doc],
                        selected_side="Downloads")
    mail = next(x for x in s.widgets if x.role == "icon" and x.text == "Mail")
    sc.step(s, at("click", mail), "Open Mail from the dock", "The file is moved; now I write the email.")
    s = desktop("mail", "Inbox - Mail", accent)
    s.rect((0, 44, 150, s.h - 28), (228, 229, 234))
    compose = s.button((10, 52, 140, 80), "Compose", accent)
    for i, box in enumerate(("Inbox", "Sent", "Drafts", "Archive")):
        s.text((20, 96 + i * 22), box, INK)
    for i in range(6):
        s.card((158, 52 + i * 46, s.w - 8, 94 + i * 46), _name(rng), rng.choice(("Status update", "Invoice",
               "Team lunch", "Design review", "Travel plan")), avatar=ACCENTS[i % 6])
    sc.step(s, at("click", compose), "Click 'Compose'", "I open a new email to attach the document.")
    s2 = desktop("mail_compose", "New message - Mail", accent)
    s2.field((20, 56, s2.w - 20, 80), "", "To", focused=True, accent=accent)
    s2.field((20, 88, s2.w - 20, 112), doc, "Subject")
    s2.rect((20, 120, s2.w - 20, s2.h - 40), CARD, outline=BORDER)
    s2.add("text_field", (20, 120, s2.w - 20, s2.h - 40), "", CARD)
    sc.step(s2, {"type": "ask_user", "text": f"Who is your team lead: {', '.join(cands)}?",
                 "meta": {"candidates": cands}}, "Ask who the team lead is",
            "I do not know who the team lead is, so I ask instead of guessing.")
    return sc


def sc_editor(rng: random.Random, accent: Color) -> Scenario:
    """click, type, key, type, click, status(complete)."""
    text = rng.choice(("Meeting at 10", "Buy milk and eggs", "Call the bank", "Project kickoff on Monday"))
    fname = rng.choice(("notes.txt", "todo.txt", "reminder.txt", "plan.txt"))
    sc = Scenario(f'Write "{text}" in a new note and save it as {fname}', "Notes", "desktop")

    def editor(title: str, body: str, focused: bool, dialog: Optional[str] = None) -> tuple[Screen, dict[str, Widget]]:
        s = desktop("editor", title, accent)
        out = {}
        for i, m in enumerate(("File", "Edit", "View", "Help")):
            out[m] = s.button((6 + i * 52, 48, 54 + i * 52, 66), m, MENU, fg=INK, radius=3, role="menu")
        out["area"] = s.field((8, 72, s.w - 8, s.h - 36), body, "Start typing...", focused=focused, accent=accent,
                              multiline=True)
        if dialog is not None:
            s.rect((170, 130, 470, 260), (250, 250, 252), outline=BORDER, radius=6)
            s.text((186, 142), "Save as", INK)
            s.add("dialog", (170, 130, 470, 260), "Save as", (250, 250, 252), clickable=False)
            s.text((186, 172), "File name:", MUTED)
            out["name"] = s.field((256, 166, 454, 190), dialog, "untitled.txt", focused=True, accent=accent)
            out["Save"] = s.button((370, 220, 454, 246), "Save", accent)
            out["Cancel"] = s.button((280, 220, 362, 246), "Cancel", (226, 227, 232), fg=INK)
        return s, out

    s, w = editor("Untitled - Notes", "", False)
    sc.step(s, at("click", w["area"]), "Click in the text area", "I place the cursor in the empty note.")
    s, _ = editor("Untitled - Notes", "", True)
    sc.step(s, {"type": "type", "text": text}, f"Type '{text}'", "The editor is focused; I type the note.")
    s, _ = editor("*Untitled - Notes", text, True)
    sc.step(s, {"type": "key", "key": "ctrl+s"}, "Press Ctrl+S to save", "Ctrl+S opens the save dialog.")
    s, _ = editor("*Untitled - Notes", text, False, dialog="")
    sc.step(s, {"type": "type", "text": fname}, f"Type '{fname}'", "The file name field is focused.")
    s, w = editor("*Untitled - Notes", text, False, dialog=fname)
    sc.step(s, at("click", w["Save"]), "Click 'Save'", "The name is right; I confirm.")
    s, _ = editor(f"{fname} - Notes", text, False)
    sc.step(s, {"type": "status", "status": "complete"}, "Finish", f"The title bar shows {fname}: it is saved.")
    return sc


def sc_print(rng: random.Random, accent: Color) -> Scenario:
    """click, status(impossible)."""
    printer = rng.choice(("office printer", "printer on floor 2", "color printer"))
    sc = Scenario(f"Print this note on the {printer}", "Notes", "desktop")
    body = rng.choice(("Shopping list: apples, rice", "Draft agenda for Friday", "Ideas for the trip"))

    def editor(menu: bool) -> tuple[Screen, dict[str, Widget]]:
        s = desktop("editor", "ideas.txt - Notes", accent)
        out = {m: s.button((6 + i * 52, 48, 54 + i * 52, 66), m, MENU, fg=INK, radius=3, role="menu")
               for i, m in enumerate(("File", "Edit", "View", "Help"))}
        s.field((8, 72, s.w - 8, s.h - 36), body, multiline=True)
        if menu:
            items = ("New", "Open...", "Save", "Save as...", "Export as PDF", "Quit")
            s.rect((6, 66, 140, 70 + 22 * len(items)), (226, 227, 232), outline=BORDER, radius=4)
            s.add("menu", (6, 66, 140, 70 + 22 * len(items)), None, (226, 227, 232), clickable=False)
            for i, it in enumerate(items):
                s.button((8, 68 + 22 * i, 138, 88 + 22 * i), it, CARD, fg=INK, radius=3, role="menu_item")
        return s, out

    s, w = editor(False)
    sc.step(s, at("click", w["File"]), "Open the File menu", "Printing is usually in the File menu.")
    s, _ = editor(True)
    sc.step(s, {"type": "status", "status": "impossible", "text": "This editor has no Print command."},
            "Stop: there is no Print command", "The File menu offers only New, Open, Save, Save as, Export and "
            "Quit: the note cannot be printed from here.")
    return sc


ANDROID: tuple[Callable[[random.Random, Color], Scenario], ...] = (
    sc_messages, sc_settings, sc_gallery, sc_shop, sc_music, sc_mail_phone)
DESKTOP: tuple[Callable[[random.Random, Color], Scenario], ...] = (
    sc_rename, sc_browser, sc_move_and_mail, sc_editor, sc_print)


def schedule(platform: str, episodes: int) -> list[Callable[[random.Random, Color], Scenario]]:
    """Which scenario each episode plays (round-robin; mixed interleaves android and desktop)."""
    if platform == "android":
        order = list(ANDROID)
    elif platform == "desktop":
        order = list(DESKTOP)
    else:
        order = [sc for pair in zip(ANDROID, DESKTOP) for sc in pair] + list(ANDROID[len(DESKTOP):])
    return [order[i % len(order)] for i in range(episodes)]


def make_dataset(out: Union[str, os.PathLike], episodes: int = 8, seed: int = 0, platform: str = "mixed",
                 overwrite: bool = False, split: str = "train") -> Path:
    """Draw ``episodes`` synthetic episodes into a canonical dataset at ``out`` and return its path.

    Deterministic in (episodes, seed, platform). ``platform``: android, desktop or mixed (alternating). Raises
    :class:`~bridge.errors.BridgeError` for bad arguments or an existing non-empty ``out`` without ``overwrite``.
    """
    from .dataset import DatasetWriter
    from .errors import BridgeError
    from .schema import Episode

    if platform not in PLATFORMS:
        raise BridgeError(f"unknown platform {platform!r} (expected one of {', '.join(PLATFORMS)})")
    if not isinstance(episodes, int) or episodes < 1:
        raise BridgeError(f"--episodes must be a positive integer, got {episodes!r}")
    out = Path(out)
    meta = {"generator": "bridge.synth", "seed": seed, "platform": platform}
    with DatasetWriter(out, source="synth", overwrite=overwrite, meta=meta) as writer:
        images = writer.image_dir()
        for i, scenario_fn in enumerate(schedule(platform, episodes)):
            rng = random.Random(seed * 1_000_003 + i)
            sc = scenario_fn(rng, ACCENTS[rng.randrange(len(ACCENTS))])
            ep_id = f"synth-{seed}-{i:05d}"
            (images / ep_id).mkdir(parents=True, exist_ok=True)
            steps, prev = [], None
            for k, planned in enumerate(sc.steps):
                rel = f"images/{ep_id}/step_{k:02d}.png"
                planned.screen.image.save(images / ep_id / f"step_{k:02d}.png", format="PNG")
                steps.append({
                    "index": k, "screenshot": rel, "width": planned.screen.w, "height": planned.screen.h,
                    "extra_images": [prev] if prev else [], "low_instruction": planned.low,
                    "thought": planned.thought, "elements": [w.element() for w in planned.screen.widgets],
                    "action": planned.action, "meta": {"screen": planned.screen.name},
                })
                prev = rel
            writer.write(Episode.model_validate({
                "episode_id": ep_id, "instruction": sc.instruction, "platform": sc.platform, "app": sc.app,
                "source": "synth", "split": split, "meta": {"scenario": scenario_fn.__name__[3:], **sc.meta},
                "steps": steps}))
    return out
