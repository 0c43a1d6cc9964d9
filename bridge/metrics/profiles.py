"""Named step-matching profiles: the published offline evaluators, reproduced on canonical actions.

A profile judges one predicted canonical action against one ground-truth :class:`~bridge.schema.Step`
(original pixels; the style's parser has already inverted the model's frame). It answers three questions:

* **type match** — same action in the profile's own vocabulary (:meth:`Profile.category`);
* **success** (exact match) — type match and the arguments satisfy the profile's rule;
* **grounding** — only for steps whose ground truth targets a point (click, long_press, double_click,
  right_click): does the predicted point satisfy the profile's point rule, *whatever the predicted type*
  (GUI-R1's "GR" convention; a prediction without a point misses).

Constants and edge rules follow docs/eval.md and the evaluators they cite. Where an original
has no rule for an action type (e.g. ``terminate`` in the Qwen AndroidControl code), the extension used here
is stated in the profile's docstring. Coordinates are compared in normalised screen units (x/W, y/H) where the
original does so (hence anisotropic in pixels), and in pixels where it does so.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..errors import BridgeError
from ..schema import POINT_ACTIONS, Action, Step
from . import geometry as g
from .text import odyssey_text_match, substring_match, token_f1


@dataclass(frozen=True)
class Verdict:
    type_match: bool
    success: bool
    grounded: Optional[bool] = None     # None: the ground truth has no point target
    note: Optional[str] = None          # why a step could not be graded fully (counted in the report)
    part: Optional[str] = None          # a publisher's own bucket for the step (gui-r1: "grounding" / "text")
    category: Optional[str] = None      # the ground truth's type in the profile's vocabulary


def is_point_step(step: Step) -> bool:
    """Ground truth targets a point: the steps grounding accuracy is measured on."""
    a = step.action
    return a.type in POINT_ACTIONS and (a.point is not None or a.bbox is not None)


def gt_point(step: Step) -> Optional[tuple[float, float]]:
    return g.pred_point(step.action)   # same rule: the point, else the target box centre


def _text(a: Action) -> str:
    return a.text or ""


def _button(a: Action) -> Optional[str]:
    return {"navigate_back": "back", "navigate_home": "home", "enter": "enter"}.get(a.type) or (
        a.key.strip().lower() if a.type == "key" and a.key else None)


def _axis(direction: Optional[str]) -> Optional[str]:
    return None if direction is None else ("vertical" if direction in ("up", "down") else "horizontal")


class Profile(ABC):
    """Base class: subclasses define the vocabulary, the point rule and the argument rule."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def category(self, action: Action) -> str:
        """The action's type in this profile's vocabulary (what "type match" compares)."""

    @abstractmethod
    def point_hit(self, step: Step, point: tuple[float, float]) -> bool:
        """Does ``point`` (original px) hit the ground-truth target of a point step?"""

    @abstractmethod
    def args_match(self, step: Step, pred: Action, category: str) -> bool:
        """Given a type match in ``category``, are the predicted arguments right?"""

    #: the source decides a swipe's axis in normalised screen units (AITW, GUI-Odyssey, AgentCPM) rather than
    #: in pixels; the ground truth's stored direction is the importer's (its source's) and wins
    NORMALISED_DIRECTION: ClassVar[bool] = False
    #: score steps an importer synthesised (``step.meta.synthetic``)? Only where the publisher's set has them
    SCORE_SYNTHETIC: ClassVar[bool] = True
    #: parse completions exactly as the publisher does (:meth:`strict_parse`) unless told otherwise
    STRICT_PARSE: ClassVar[bool] = False

    def strict_parse(self, text: str, step: Step):
        """Parse a completion exactly as the publisher's evaluator does; profiles without their own parser
        have none to be strict about."""
        raise BridgeError(f"profile {self.name} has no publisher's parser (strict parsing)",
                          hint="evaluate without strict parsing")

    def type_match(self, step: Step, pred: Action) -> bool:
        return self.category(step.action) == self.category(pred)

    def directions(self, step: Step, pred: Action) -> tuple[Optional[str], Optional[str]]:
        """(ground truth, prediction) finger directions under this profile's rule."""
        size = (step.width, step.height) if self.NORMALISED_DIRECTION else None
        return g.direction(step.action, size), g.direction(pred, size, moved_first=True)

    def same_direction(self, step: Step, pred: Action) -> bool:
        gd, pd = self.directions(step, pred)
        return gd is not None and gd == pd

    def _point_args(self, step: Step, pred: Action) -> bool:
        p = g.pred_point(pred)
        return p is not None and self.point_hit(step, p)

    def judge(self, step: Step, pred: Optional[Action]) -> Verdict:
        """Verdict for one step; ``pred=None`` (missing or unparsable prediction) is wrong on every count."""
        point_step = is_point_step(step)
        if pred is None:
            return Verdict(False, False, False if point_step else None)
        grounded = self._point_args(step, pred) if point_step else None
        tm = self.type_match(step, pred)
        ok = tm and self.args_match(step, pred, self.category(step.action))
        return Verdict(tm, ok, grounded)


class AITW(Profile):
    """google-research ``android_in_the_wild/action_matching.py``.

    Taps match when both points lie in one annotation box enlarged by 1.4× its size (so 2.4× as large; top-left
    clamped at 0, size at 1; edges inclusive) or when their normalised (y, x) distance is <= 0.14. Swipes match
    on the primary AXIS only (up == down, as the original), decided in normalised (y, x) units. Every other action matches on its type alone —
    typed text, app names and keys are not compared. Annotation boxes = the target ``action.bbox`` plus the
    step's ``elements``. Extensions: long_press is graded like a tap (AgentCPM's LONG_POINT), drag like a swipe.
    """

    name = "aitw"
    description = "AITW action matching: 1.4x boxes or 0.14 distance, swipe axis, type-only for the rest"
    NORMALISED_DIRECTION = True
    TAP_DISTANCE = 0.14
    BOX_AUGMENT = 1.4
    _CAT = {"click": "tap", "long_press": "long_press", "swipe": "swipe", "scroll": "swipe", "drag": "swipe",
            "navigate_back": "press_back", "navigate_home": "press_home", "enter": "press_enter"}

    def category(self, a: Action) -> str:
        if a.type == "status":
            return "status_task_" + (a.status or "unknown")
        return self._CAT.get(a.type, a.type)

    def point_hit(self, step, point):
        gp = gt_point(step)
        if gp is None:
            return False
        w, h = step.width, step.height
        gn, pn = g.norm_point(gp, w, h), g.norm_point(point, w, h)
        for box in g.annotation_boxes(step):
            b = g.grow(g.norm_box(box, w, h), self.BOX_AUGMENT, clamp=True)
            if g.inside(gn, b) and g.inside(pn, b):
                return True
        return g.distance(gn, pn) <= self.TAP_DISTANCE

    def args_match(self, step, pred, category):
        if category in ("tap", "long_press"):
            return self._point_args(step, pred)
        if category == "swipe":
            gd, pd = self.directions(step, pred)
            return gd is not None and _axis(gd) == _axis(pd)
        return True


class AndroidControl(Profile):
    """Qwen2.5-VL AndroidControl rule (QwenLM/Qwen2.5-VL#904, as in InfiGUI-R1 ``evaluate_android_control.py``).

    click / long_press: inside any candidate box enlarged 1.2× about its centre (no clamping, edges inclusive), or
    pixel distance to the ground-truth point <= 0.04·max(W, H). type / open: stripped lower-cased substring either
    way. swipe: the predicted finger direction equals the ground truth's. system_button (back/home/enter): same
    button. wait: type match suffices. A predicted click on an ``open_app`` step type-matches when the step has a
    target box and is graded as a click on that box (gt point = its centre).

    Candidate boxes: the target ``action.bbox`` if set, else the smallest ``elements`` containing the ground-truth
    point (the minimal accessibility nodes under the tap). The original measures the distance in pixels of the
    smart-resized image; here it is measured in original pixels (identical up to the resize's rounding).
    Extensions: terminate (canonical ``status``) needs the same status; ``key`` the same key.

    Steps the importer synthesised (``meta.synthetic``: the terminal ``status complete`` the AndroidControl
    importer appends) are NOT scored: the published evaluation set (InfiGUI-R1
    ``eval/android_control/android_control.py``, one job per recorded action) has no such step. Score them with
    ``evaluate(..., synthetic=True)`` / ``bridge eval --synthetic-steps score``.
    """

    name = "androidcontrol"
    description = "Qwen2.5-VL AndroidControl: 1.2x candidate boxes or 0.04*max(W,H) px, text substring"
    # InfiGUI-R1 eval/android_control/android_control.py makes one job per action (asserting
    # len(step_pams) == len(screenshot_paths) - 1): the importer's appended ``status complete`` is not in it
    SCORE_SYNTHETIC = False
    DISTANCE = 0.04
    BOX_SCALE = 1.2
    _CAT = {"click": "click", "long_press": "long_press", "swipe": "swipe", "scroll": "swipe", "drag": "swipe",
            "type": "type", "open_app": "open", "navigate_back": "system_button", "navigate_home": "system_button",
            "enter": "system_button", "wait": "wait", "status": "terminate"}

    def category(self, a: Action) -> str:
        if a.type == "key" and _button(a) in ("back", "home", "menu", "enter"):
            return "system_button"
        return self._CAT.get(a.type, a.type)

    def _check_click(self, step, point, boxes, gp) -> bool:
        w, h = step.width, step.height
        pn = g.norm_point(point, w, h)
        for box in boxes:
            if g.inside(pn, g.grow(g.norm_box(box, w, h), self.BOX_SCALE - 1, clamp=False)):
                return True
        return gp is not None and g.pixel_distance(gp, point) <= self.DISTANCE * max(w, h)

    def point_hit(self, step, point):
        gp = gt_point(step)
        a = step.action
        boxes = [a.bbox] if a.bbox is not None else (
            g.minimal_enclosing(step.elements or (), gp) if gp is not None else [])
        return self._check_click(step, point, boxes, gp)

    def type_match(self, step, pred):
        if step.action.type == "open_app" and self.category(pred) == "click":
            return step.action.bbox is not None
        return super().type_match(step, pred)

    def args_match(self, step, pred, category):
        gt = step.action
        if category == "open" and self.category(pred) == "click":
            p = g.pred_point(pred)
            box = gt.bbox
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            return p is not None and self._check_click(step, p, [box], centre)
        if category in ("click", "long_press"):
            return self._point_args(step, pred)
        if category == "swipe":
            return self.same_direction(step, pred)
        if category == "open":
            return substring_match(pred.app or "", gt.app or "")
        if category == "system_button":
            return _button(gt) == _button(pred)
        if category == "terminate":
            return gt.status == pred.status
        if category == "key":
            return _button(gt) == _button(pred)
        if category == "wait":
            return True
        if gt.text is not None:   # type, select, answer, ask_user
            return substring_match(_text(pred), gt.text)
        return True


class AgentCPM(Profile):
    """OpenBMB AgentCPM-GUI ``eval/utils/evaluator.py`` (non-AndroidControl mode).

    Vocabulary {click, long_point, scroll, type, press, stop} (wait and every status are ``stop``, so complete
    vs impossible still match). click / long_point: element boxes enlarged 1.2× (top-left clamped at 0, size at 1);
    the candidates are the enlarged boxes containing the ground-truth point; a prediction inside any candidate
    matches, otherwise normalised distance <= 0.14. scroll: same finger direction, the axis decided on the
    [0, 1000] numbers (normalised units) as ``_get_direction`` does. type: lower-cased stripped
    substring either way. press: same button. stop: type match suffices. Boxes = ``action.bbox`` + ``elements``.

    Completions are read as AgentCPM's evaluator reads them (``STRICT_PARSE``; :mod:`.agentcpm_parse`): a
    fenced, single-quoted or extra-key output is invalid, ``POINT`` + ``STATUS: finish`` is a stop. The style's
    lenient parser is an explicit choice: ``evaluate(..., strict=False)`` / ``bridge eval --parse style``.
    """

    name = "agentcpm"
    description = "AgentCPM-GUI evaluator: 1.2x boxes containing the GT point, else 0.14 distance"
    NORMALISED_DIRECTION = True
    STRICT_PARSE = True

    def strict_parse(self, text, step):
        """AgentCPM-GUI's own reading of the completion (:mod:`bridge.metrics.agentcpm_parse`): one strict JSON
        object under its extraction schema, multi-key outputs resolved in its order (a STATUS stops first)."""
        from .agentcpm_parse import parse

        return parse(text, step.width, step.height)
    DISTANCE = 0.14
    BOX_SCALE = 1.2
    NEAREST: Optional[int] = None       # AndroidControl mode: the 5 boxes with the nearest centres
    _CAT = {"click": "click", "long_press": "long_point", "swipe": "scroll", "scroll": "scroll", "drag": "scroll",
            "type": "type", "navigate_back": "press", "navigate_home": "press", "enter": "press", "key": "press",
            "status": "stop", "wait": "stop"}

    def category(self, a: Action) -> str:
        return self._CAT.get(a.type, a.type)

    def point_hit(self, step, point):
        gp = gt_point(step)
        if gp is None:
            return False
        w, h = step.width, step.height
        gn, pn = g.norm_point(gp, w, h), g.norm_point(point, w, h)
        boxes = [g.grow(g.norm_box(b, w, h), self.BOX_SCALE - 1, clamp=True) for b in g.annotation_boxes(step)]
        if self.NEAREST is None:
            cands = [b for b in boxes if g.inside(gn, b)]
        else:   # stable sort: ties keep the annotation order, as Python's sorted() in the original
            cands = sorted(boxes, key=lambda b: g.distance(g.box_center(b), gn))[: self.NEAREST]
        if any(g.inside(pn, b) for b in cands):
            return True
        return g.distance(gn, pn) <= self.DISTANCE

    def args_match(self, step, pred, category):
        gt = step.action
        if category in ("click", "long_point"):
            return self._point_args(step, pred)
        if category == "scroll":
            return self.same_direction(step, pred)
        if category == "press":
            return _button(gt) == _button(pred)
        if category == "stop":
            return True
        if category == "open_app":
            return substring_match(pred.app or "", gt.app or "")
        if gt.text is not None:
            return substring_match(_text(pred), gt.text)
        return True


class AgentCPMAndroidControl(AgentCPM):
    """AgentCPM-GUI evaluator with ``--eval_android_control``: candidates = the 5 enlarged boxes whose centres
    are nearest the ground-truth point, fallback distance 0.04 (normalised)."""

    name = "agentcpm-ac"
    description = "AgentCPM-GUI evaluator, AndroidControl mode: 5 nearest 1.2x boxes, else 0.04 distance"
    DISTANCE = 0.04
    NEAREST = 5


class GUIR1Strict(Profile):
    """GUI-R1's per-step rules (``guir1/eval/eval_omni.py``) inside this project's step success: a step succeeds
    when the type matches AND its arguments pass GUI-R1's rule; a prediction without a point misses.

    Type: the action names equal (GUI-R1 vocabulary). Point types (click, long_press, doubleclick, rightclick):
    ((gx−px)/W)² + ((gy−py)/H)² < 0.14² (strict). Text types — type, select, open_app, scroll (its text is the
    direction): GUI-R1 token-set F1 >= 0.5. Every other type: type match suffices. Extension: drag needs the
    same finger direction. The published aggregation (no type match in Step, Step over point and text steps
    only, a point-less prediction at (0, 0)) is the ``gui-r1`` profile.
    """

    name = "gui-r1-strict"
    description = "GUI-R1 rules in strict step success: type match and 0.14 distance / token-F1 >= 0.5"
    DISTANCE = 0.14
    F1 = 0.5
    _CAT = {"double_click": "doubleclick", "right_click": "rightclick", "swipe": "scroll",
            "navigate_back": "press_back", "navigate_home": "press_home"}

    def category(self, a: Action) -> str:
        if a.type == "status":
            return "complete" if a.status == "complete" else (a.status or "status")
        return self._CAT.get(a.type, a.type)

    def point_hit(self, step, point):
        gp = gt_point(step)
        if gp is None:
            return False
        dx = (gp[0] - point[0]) / step.width
        dy = (gp[1] - point[1]) / step.height
        return dx * dx + dy * dy < self.DISTANCE ** 2

    def args_match(self, step, pred, category):
        gt = step.action
        if category in ("click", "long_press", "doubleclick", "rightclick"):
            return self._point_args(step, pred)
        if category == "scroll":
            gd, pd = self.directions(step, pred)
            return token_f1(pd or "", gd or "") >= self.F1
        if category in ("type", "select"):
            return token_f1(_text(pred), _text(gt)) >= self.F1
        if category == "open_app":
            return token_f1(pred.app or "", gt.app or "") >= self.F1
        if category == "drag":
            return self.same_direction(step, pred)
        return True


class GUIR1(GUIR1Strict):
    """GUI-R1's published offline metrics, exactly as ``guir1/eval/eval_omni.py`` computes them
    (ritzz-ai/GUI-R1; read at icey-zhang/GUI-R1 049a461d05e21a4f9c48befa3730b0575114127e and
    YangRui2015/GUI-R1 131ae9a79711e70328760f02801e3fbe94a97da0, which agree on these rules).

    Per step (category = the ground truth's GUI-R1 action name):

    * Type hit: the predicted action name equals the ground truth's.
    * Point steps (click, long_press, doubleclick, rightclick): a *grounding* hit when
      ((gx−px)/W)² + ((gy−py)/H)² < 0.14², WHATEVER the predicted type; a prediction without a point is taken
      at (0, 0) (GUI-R1's inference writes that point when none is parsed).
    * Text steps (open_app, type, scroll, select): a *text* hit when token-set F1 >= 0.5, whatever the type.
    * Every other step (press_back, complete, wait, ...) is in Type only.

    Totals: Type = type hits / steps; Step = (grounding + text hits) / (point + text steps), no type match;
    GR = grounding hits / point steps. As in the original, a category (action name and bucket) in which no
    step hit contributes neither hits nor steps (its counter never appears in ``score_dict``). Missing and
    unparsable predictions miss everything. The report's type accuracy, step success and grounding accuracy
    are these totals; ``gui-r1-strict`` keeps this project's stricter step success.
    """

    name = "gui-r1"
    description = "GUI-R1 eval_omni exactly: Type, Step = grounding+text hits without type match, GR"
    POINT_TYPES = ("click", "long_press", "doubleclick", "rightclick")
    TEXT_TYPES = ("open_app", "type", "scroll", "select")

    def judge(self, step: Step, pred: Optional[Action]) -> Verdict:
        cat = self.category(step.action)
        part = "grounding" if cat in self.POINT_TYPES else "text" if cat in self.TEXT_TYPES else None
        if pred is None:
            return Verdict(False, False, False if part == "grounding" else None, part=part, category=cat)
        tm = self.category(pred) == cat
        if part == "grounding":
            hit = self.point_hit(step, g.pred_point(pred) or (0.0, 0.0))
            return Verdict(tm, hit, hit, part=part, category=cat)
        if part == "text":
            return Verdict(tm, self._text_hit(step, pred, cat), None, part=part, category=cat)
        return Verdict(tm, tm, None, part=part, category=cat)

    def _text_hit(self, step: Step, pred: Action, cat: str) -> bool:
        if cat == "scroll":
            gd, pd = self.directions(step, pred)
            return token_f1(pd or "", gd or "") >= self.F1
        if cat == "open_app":
            return token_f1(pred.app or pred.text or "", step.action.app or "") >= self.F1
        return token_f1(pred.text or pred.app or "", _text(step.action)) >= self.F1

    @staticmethod
    def aggregate(results) -> dict[str, tuple[int, int]]:
        """(hits, total) of Type, Step and GR over per-step results (``category``, ``part``, ``type_match``,
        ``success``), with eval_omni's rule that a category without a hit is left out entirely."""
        counts: dict[tuple[str, str], list[int]] = {}
        for r in results:
            counts.setdefault((r.category, "type"), [0, 0])
            c = counts[(r.category, "type")]
            c[0] += r.type_match
            c[1] += 1
            if r.part:
                c = counts.setdefault((r.category, r.part), [0, 0])
                c[0] += r.success
                c[1] += 1
        out = {"type": [0, 0], "step": [0, 0], "grounding": [0, 0]}
        for (_, bucket), (hits, total) in counts.items():
            if not hits:
                continue
            keys = ("type",) if bucket == "type" else ("step", "grounding") if bucket == "grounding" else ("step",)
            for k in keys:
                out[k][0] += hits
                out[k][1] += total
        return {k: (v[0], v[1]) for k, v in out.items()}


class GUIOdyssey(Profile):
    """GUI-Odyssey ``src/eval_mm/GUIOdyssey_action_matching.py``.

    Type must match. CLICK / LONG_PRESS: inside the target box (``action.bbox``, the SAM2 box the importer
    converts from ``sam2_bbox``, else step ``meta.sam2_bbox_px``; not enlarged, inclusive) or distance of the
    [0,1000]/1000 points <= 0.14. SCROLL: same direction (case-insensitive), the axis decided on the [0, 1000]
    numbers (normalised units) as ``data/format_converter.py`` does.
    TYPE: stripped case-SENSITIVE substring either way, or ANLS >= 0.5. Others: type match suffices.
    """

    name = "gui-odyssey"
    description = "GUI-Odyssey: target box or 0.14 distance, scroll direction, text substring or ANLS >= 0.5"
    NORMALISED_DIRECTION = True
    DISTANCE = 0.14
    ANLS = 0.5
    _CAT = {"click": "CLICK", "long_press": "LONG_PRESS", "swipe": "SCROLL", "scroll": "SCROLL", "drag": "SCROLL",
            "type": "TYPE", "navigate_home": "PRESS_HOME", "navigate_back": "PRESS_BACK"}

    def category(self, a: Action) -> str:
        if a.type == "status":
            return (a.status or "status").upper()
        if a.type == "key" and _button(a) == "recent":
            return "PRESS_RECENT"
        return self._CAT.get(a.type, a.type.upper())

    def point_hit(self, step, point):
        w, h = step.width, step.height
        pn = g.norm_point(point, w, h)
        box = step.action.bbox if step.action.bbox is not None else (step.meta or {}).get("sam2_bbox_px")
        if box is not None and g.inside(pn, g.norm_box(box, w, h)):
            return True
        gp = gt_point(step)
        return gp is not None and g.distance(g.norm_point(gp, w, h), pn) <= self.DISTANCE

    def args_match(self, step, pred, category):
        gt = step.action
        if category in ("CLICK", "LONG_PRESS"):
            return self._point_args(step, pred)
        if category == "SCROLL":
            return self.same_direction(step, pred)
        if category == "TYPE":
            return odyssey_text_match(_text(pred), _text(gt), self.ANLS)
        return True


class ScreenSpot(Profile):
    """ScreenSpot / -v2 / -Pro grounding accuracy: the predicted point (or the centre of a predicted box) lies
    inside the target box ``action.bbox`` — edges INCLUSIVE (the originals differ at the edge: strict in GUI-R1,
    half-open in SE-GUI; docs/eval.md: inclusive). Any pointing action (click, long_press,
    double_click, right_click) type-matches any other. A point step without a target box cannot be graded and
    counts as a miss with a note."""

    name = "screenspot"
    description = "ScreenSpot: predicted point inside the target box (inclusive)"

    def category(self, a: Action) -> str:
        return "point" if a.type in POINT_ACTIONS else a.type

    def point_hit(self, step, point):
        b = step.action.bbox
        return b is not None and b[0] <= point[0] <= b[2] and b[1] <= point[1] <= b[3]

    def args_match(self, step, pred, category):
        return self._point_args(step, pred) if category == "point" else True

    def judge(self, step, pred):
        v = super().judge(step, pred)
        if is_point_step(step) and step.action.bbox is None:
            return Verdict(v.type_match, False, False, note="no target box (action.bbox)")
        return v


PROFILES: dict[str, type[Profile]] = {p.name: p for p in (
    AITW, AndroidControl, AgentCPM, AgentCPMAndroidControl, GUIR1, GUIR1Strict, GUIOdyssey, ScreenSpot)}


def get_profile(name_or_profile) -> Profile:
    """A profile instance by name (``aitw``, ``androidcontrol``, ``agentcpm``, ``agentcpm-ac``, ``gui-r1``,
    ``gui-r1-strict``, ``gui-odyssey``, ``screenspot``); an instance is returned unchanged."""
    if isinstance(name_or_profile, Profile):
        return name_or_profile
    cls = PROFILES.get(str(name_or_profile))
    if cls is None:
        raise BridgeError(f"unknown metric profile {name_or_profile!r}",
                          hint="available profiles: " + ", ".join(PROFILES))
    return cls()
