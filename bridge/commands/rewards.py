import click

from ._values import complete_preset, complete_style


@click.group("rewards")
def command():
    """The reward library: list rewards and presets, score saved completions."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(as_json):
    """Every reward: generic ones (parse with any style) and presets reproducing published functions."""
    import json

    from ..rewards import all_rewards

    rows = [{"name": r.name, "kind": r.kind, "style": r.style or "any", "parts": list(r.parts),
             "options": r.options, "description": r.description, "source": r.source}
            for r in sorted(all_rewards().values(), key=lambda r: (r.kind != "generic", r.name))]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(_table(["name", "kind", "style", "description"],
                      [[r["name"], r["kind"], r["style"], r["description"]] for r in rows]))


@command.command("score")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=str))
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=str))
@click.option("--preset", "presets", multiple=True, shell_complete=complete_preset,
              help="Reward or preset to apply (repeatable; weights 1).")
@click.option("--spec", help="Reward spec: a .json/.yaml file or inline JSON/YAML (as recipes write it).")
@click.option("--style", "style_name", required=True, shell_complete=complete_style,
              help="Style the dataset was exported with: fixes the ground truth's coordinate frame and the parser "
                   "of generic rewards.")
@click.option("--min-pixels", type=click.IntRange(min=1), help="Smart-resize bounds of the model's processor.")
@click.option("--max-pixels", type=click.IntRange(min=1))
@click.option("--per-step", is_flag=True, help="Also print one row per step.")
@click.option("--json", "as_json", is_flag=True, help="Print {steps: [...], summary: {...}} as JSON.")
def score(dataset, predictions, presets, spec, style_name, min_pixels, max_pixels, per_step, as_json):
    """Score PREDICTIONS (JSON Lines of {"id": "<episode_id>/<step index>", "completion": "..."}) against the
    ground truth of every step of DATASET.

    Steps without a prediction are scored on an empty completion and counted as missing; a prediction whose
    id is not a step of the dataset is an error.
    """
    import json

    from ..dataset import open_dataset
    from ..errors import BridgeError, Problem
    from ..groundtruth import GroundTruth
    from ..metrics.predictions import read_predictions
    from ..rewards import build_scorer
    from ..styles import get_style
    from ..styles.base import PromptOptions

    if bool(presets) == bool(spec):
        raise BridgeError("give the rewards with --preset NAME (repeatable) or --spec FILE, not both and not neither")
    from ._args import check_pixels

    check_pixels(min_pixels, max_pixels)
    scorer = build_scorer(list(presets) if presets else spec, source="--preset" if presets else "--spec")
    style = get_style(style_name, PromptOptions(min_pixels=min_pixels, max_pixels=max_pixels))
    for c in scorer.components:
        if c.reward.style and c.reward.style != style.name and c.reward.kind == "preset":
            click.echo(f"note: {c.reward.name} reads completions in the {c.reward.style} format; --style "
                       f"{style.name} sets the ground truth's frame", err=True)
    ds = open_dataset(dataset)
    preds = read_predictions(predictions)
    from ..styles import Unsupported

    frame = style.frame()
    steps, missing, seen, refused = [], 0, set(), {}
    for episode in ds:
        for step in episode.steps:
            sid = f"{episode.episode_id}/{step.index}"
            seen.add(sid)
            try:  # a step the style cannot express is never exported nor trained on: not scored, but counted
                style.render_step(step)
            except Unsupported:
                refused[step.action.type] = refused.get(step.action.type, 0) + 1
                continue
            except ValueError:  # e.g. an aspect ratio smart_resize refuses: the reward would fail the same way
                pass
            gt = GroundTruth(action=step.action, width=step.width, height=step.height, style=style.name, frame=frame,
                             elements=[tuple(e.bbox) for e in step.elements] if step.elements else None,
                             meta={"id": sid})
            completion = preds.get(sid)
            missing += completion is None
            steps.append({"id": sid, "type": step.action.type, "missing": completion is None,
                          **scorer(completion or "", gt)})
    unknown = sorted(set(preds) - seen)
    if unknown:
        raise BridgeError(f"{predictions}: {len(unknown)} prediction id(s) are not steps of {dataset}",
                          [Problem(predictions, "no such step", record=i, field="id") for i in unknown[:20]],
                          hint='ids are "<episode_id>/<step index>"' + (f" ({len(unknown) - 20} more not shown)"
                                                                         if len(unknown) > 20 else ""))
    keys = scorer.keys
    summary = {"steps": len(steps), "predicted": len(steps) - missing, "missing": missing,
               "mean": {k: (sum(s[k] for s in steps) / len(steps) if steps else 0.0) for k in keys},
               "min": {k: min((s[k] for s in steps), default=0.0) for k in keys},
               "max": {k: max((s[k] for s in steps), default=0.0) for k in keys},
               "spec": scorer.to_list(), "style": style.name,
               **({"refused": refused} if refused else {})}
    if as_json:
        click.echo(json.dumps({"steps": steps, "summary": summary}, ensure_ascii=False))
        return
    if per_step:
        click.echo(_table(["id", "type"] + keys, [[s["id"] + (" (missing)" if s["missing"] else ""), s["type"]]
                                                  + [f"{s[k]:.4g}" for k in keys] for s in steps]))
        click.echo()
    click.echo(f"{summary['steps']} steps, {summary['predicted']} predicted, {missing} missing (scored as empty)")
    if refused:
        click.echo(f"not scored (style {style.name} cannot express them; never exported): "
                   + ", ".join(f"{k}={v}" for k, v in sorted(refused.items())))
    click.echo(_table(["reward", "mean", "min", "max"],
                      [[k, f"{summary['mean'][k]:.4f}", f"{summary['min'][k]:.4g}", f"{summary['max'][k]:.4g}"]
                       for k in keys]))


def _table(header, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
