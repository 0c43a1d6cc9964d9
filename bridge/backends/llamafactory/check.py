"""Backend-side check for LLaMA-Factory (runs INSIDE its environment: llamafactory + the stdlib-only bridge.backends.inenv).

Parses the rendered training YAML with LLaMA-Factory's own ``get_train_args``, loads the tokenizer/processor with
``load_tokenizer``, then runs ``get_dataset`` — the exact loading, sharegpt conversion, multimodal placeholder
expansion (the processor's resize) and supervised encoding that ``llamafactory-cli train`` performs — and
prints one ``BRIDGE_CHECK <json>`` line (protocol: bridge/backends/check.py). No model weights are loaded.
"""
import json
import os

import yaml

from bridge.backends.inenv import IGNORE_INDEX, run, runs









def check(req, report):
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_merged_dataset
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    export_rows = []
    with open(req["export"]["files"]["train"], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                export_rows.append(json.loads(line))
    report["samples_in"] = len(export_rows)

    args = yaml.safe_load(open(req["config"]["config"], encoding="utf-8"))
    args["output_dir"] = os.path.join(req["workdir"], "output")   # nothing is trained; keep the run dir clean
    args["overwrite_cache"] = True
    args.pop("deepspeed", None)   # the data path does not depend on it, and it needs a GPU to initialise
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tm = load_tokenizer(model_args)
    tokenizer = tm["tokenizer"]
    if tm["processor"] is None:
        raise RuntimeError("LLaMA-Factory could not load the processor of " + model_args.model_name_or_path)
    template = get_template_and_fix_tokenizer(tokenizer, data_args)

    # The converted (aligned) rows, before encoding: an invalid one has an empty _prompt or _response.
    aligned = _get_merged_dataset(data_args.dataset, model_args, data_args, training_args, "sft")
    dropped = []
    for i, row in enumerate(aligned):
        if len(row["_prompt"]) % 2 != 1 or len(row["_response"]) != 1:
            dropped.append({"index": i, "id": export_rows[i].get("id") if i < len(export_rows) else None,
                            "reason": "LLaMA-Factory's sharegpt converter rejected the message roles/tags"})

    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tm)
    train = module["train_dataset"]
    report["loaded"] = len(train)
    kept = [i for i in range(len(aligned)) if i not in {d["index"] for d in dropped}]
    if len(kept) != len(train):   # dropped at encoding (e.g. over cutoff_len): cannot pair rows any more
        dropped.append({"index": None, "id": None,
                        "reason": f"{len(kept) - len(train)} more row(s) dropped while encoding (see log)"})
        kept = kept[: len(train)]
    report["dropped"] = dropped

    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    limit = req.get("limit")
    for n, (i, row) in enumerate(zip(kept, train)):
        if limit is not None and n >= limit:
            break
        ids, labels = row["input_ids"], row["labels"]
        placeholders = sum(m["content"].count("<image>") for m in aligned[i]["_prompt"])
        images = [im if isinstance(im, str) else (im.get("path") if isinstance(im, dict) else str(im))
                  for im in (row.get("images") or [])]
        report["samples"].append({
            "index": i, "id": export_rows[i].get("id"), "images": images, "image_tokens": runs(ids, pad_id),
            "placeholders": placeholders, "input_len": len(ids),
            "target_tokens": sum(1 for t in labels if t != IGNORE_INDEX)})
        if n == 0:
            report["first"] = {
                "prompt": tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX]),
                "target": tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])}


if __name__ == "__main__":
    run("llamafactory", ("llamafactory", "transformers", "torch", "datasets"), check)
