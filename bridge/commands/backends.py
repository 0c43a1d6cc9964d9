import click


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Capabilities as JSON.")
@click.option("--names", "names_only", is_flag=True, help="Only the registered backend names, one per line.")
@click.option("--tested", is_flag=True,
              help="With --names: only the backends `make test` installs and trains on (adapter attribute `tested`).")
def command(as_json: bool, names_only: bool, tested: bool) -> None:
    """The backend x feature matrix and the model family x backend x method matrix, generated from each adapter's
    declared capabilities and families (the registry: built-in backends and the `gui_bridge.backends` entry
    points). A family or method a backend lacks is refused by `bridge run` / `bridge validate-recipe`."""
    import json

    from ..backends import available_adapters, backend_names, get_adapter
    from ..backends.base import FEATURE_LABELS
    from ..envs import env_names, status
    from ..errors import BridgeError
    from ..families import FAMILIES, FAMILY_NAMES

    if names_only:
        names = [n for n, a in available_adapters().items() if a.tested] if tested else backend_names()
        click.echo("\n".join(names))
        return
    rows: dict[str, dict] = {}
    for name in backend_names():
        try:
            a = get_adapter(name)
        except BridgeError as e:
            rows[name] = {"available": False, "error": e.message}
            continue
        env = status(name).state if name in env_names() else "n/a"
        caps = a.caps().as_dict()
        if "grpo" not in a.methods:   # a GRPO setting of a backend without GRPO is not a capability: no claim
            caps = {k: None if FEATURE_LABELS.get(k, "").startswith("GRPO") else v for k, v in caps.items()}
        fams = None if a.families is None else {f: sorted(a.family_methods(f) or ()) for f in FAMILY_NAMES}
        rows[name] = {"available": True, "description": a.description, "methods": sorted(a.methods),
                      "environment": env, **caps, "families": fams, "family_gaps": dict(a.family_gaps)}
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=list))
        return
    names = list(rows)
    feats = [("methods", "methods"), ("environment", "environment")] + list(FEATURE_LABELS.items())

    def cell(row: dict, key: str) -> str:
        if not row["available"]:
            return "n/a"
        v = row.get(key)
        if isinstance(v, bool):
            return "yes" if v else "-"
        if isinstance(v, (list, tuple)):   # long lists abbreviated; --json has them all
            return (",".join(v[:3]) + f",+{len(v) - 3}" if len(v) > 4 else ",".join(v)) if v else "-"
        return "-" if v is None else str(v)

    table = [[label] + [cell(rows[n], key) for n in names] for key, label in feats]
    header = ["feature"] + names
    widths = [max(len(r[i]) for r in table + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    click.echo(line(header))
    click.echo(line(["-" * w for w in widths]))
    for r in table:
        click.echo(line(r))
    # the model family x backend x method matrix: what each backend trains each family with (Adapter.families)
    notes: list[str] = []

    def fam_cell(row: dict, family: str) -> str:
        if not row["available"]:
            return "n/a"
        if row["families"] is None:
            return "?"
        cell = ",".join(m for m in ("sft", "grpo") if m in row["families"][family]) or "-"
        why = row["family_gaps"].get(family)
        if why:
            notes.append(why)
            cell += f" [{len(notes)}]"
        return cell

    table = [[f"{FAMILIES[f].label} ({f})"] + [fam_cell(rows[n], f) for n in names] for f in FAMILY_NAMES]
    header = ["model family"] + names
    widths = [max(len(r[i]) for r in table + [header]) for i in range(len(header))]
    click.echo("")
    click.echo(line(header))
    click.echo(line(["-" * w for w in widths]))
    for r in table:
        click.echo(line(r))
    for i, why in enumerate(notes, 1):
        click.echo(f"[{i}] {why}")
    if any(rows[n]["available"] and rows[n]["families"] is None for n in names):
        click.echo("?: the adapter declares no families (no claim; every family is let through)")
    missing = [n for n in names if not rows[n]["available"]]
    if missing:
        click.echo(f"\nn/a: adapter not importable ({', '.join(missing)})")
