"""Backend-side check for ms-swift (runs INSIDE its environment: ms-swift + the stdlib-only bridge.backends.inenv).

Reads the rendered ``swift sft`` / ``swift rlhf`` args YAML exactly as the ``swift`` CLI does (``parse_yaml_args``:
ENV block applied, keys turned into arguments), builds ``SftArguments`` (or ``RLHFArguments`` for a GRPO config,
which also imports the ``external_plugins`` reward module) with ms-swift's own parser, loads the processor
(``get_model_processor(load_model=False)``), the dataset (``args.load_dataset()``) and the train-mode template,
then encodes every row with ``template.encode`` — the call ms-swift's encode preprocessor makes, including
``qwen_vl_utils.fetch_image`` resizing — and counts what survives ms-swift's own preprocessor. Prints one
``BRIDGE_CHECK <json>`` line (protocol: bridge/backends/check.py). No model weights are loaded.

GRPO config: each row goes through ms-swift's on-policy path with the target as the completion — ``GRPOSample``
from the row, its trailing assistant turn removed and the completion appended (what a rollout does), encoded by
``encode_sample`` — so ``first.target`` is the completion's trained tokens; and the reward functions named in
``reward_funcs`` (instantiated from ``swift.rewards.orms``) score those samples through ms-swift's own
``compute_rewards_per_func``: ``samples[i].rewards`` maps each reward name to its score.
"""
import json
import os

from bridge.backends.inenv import IGNORE_INDEX, run, runs









def _path(im):
    if isinstance(im, dict):
        return im.get("path")
    return im if isinstance(im, str) else str(im)


def _key(images, messages):
    return json.dumps([list(images), [m.get("content") for m in messages][-1]], ensure_ascii=False)


def grpo_encode(row, template, tokenizer):
    """(encoded, sample): ms-swift's GRPO encoding of ``row`` with its target as the generated completion."""
    from swift.rl_core.data import GRPOSample
    from swift.rlhf_trainers.utils import encode_sample
    from swift.utils import remove_response

    sample = GRPOSample.from_row(dict(row))
    target = remove_response(sample.messages)      # ms-swift drops the trailing assistant turn before generating
    sample.messages.append({"role": "assistant", "content": target})
    sample.response_token_ids = [tokenizer.encode(target, add_special_tokens=False)]
    sample.add_eos = False                         # as after a rollout: the completion is what was generated
    return encode_sample(sample, template), sample


def grpo_rewards(args, samples):
    """Per sample ``{reward name: score}`` through ms-swift's own reward computation."""
    import torch
    from swift.rewards import orms
    from swift.rl_core.grpo_algorithm import compute_rewards_per_func

    names = list(args.reward_funcs or [])
    funcs = [orms[n](args=args) for n in names]
    table = compute_rewards_per_func(samples, funcs, None, torch.device("cpu"))
    return [{n: float(v) for n, v in zip(names, row)} for row in table.tolist()]


def check(req, report):
    from swift.arguments import RLHFArguments, SftArguments
    from swift.cli.main import parse_yaml_args
    from swift.dataset import AddLengthPreprocessor
    from swift.utils import parse_args

    # ms-swift shuffles the rows and drops unknown columns (our "id"): find each row's export line by content
    by_content = {}
    with open(req["export"]["files"]["train"], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for n, r in enumerate(rows):
        by_content.setdefault(_key(r["images"], r["messages"]), []).append((n, r.get("id")))
    report["samples_in"] = len(rows)

    argv = [req["config"]["config"]]
    parse_yaml_args(argv)    # the CLI's own YAML handling (applies the ENV block)
    grpo = "--rlhf_type" in argv and argv[argv.index("--rlhf_type") + 1] == "grpo"
    argv += ["--output_dir", os.path.join(req["workdir"], "output")]
    args, _ = parse_args(RLHFArguments if grpo else SftArguments, argv)
    report["method"] = "grpo" if grpo else "sft"
    _, processor = args.get_model_processor(load_model=False)
    template = args.get_template(processor)
    template.set_mode("train")
    train, _ = args.load_dataset()
    tokenizer = template.tokenizer
    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    limit = req.get("limit")

    # what ms-swift's own encode preprocessor keeps (it drops rows whose encoding fails, unless strict); run it
    # first, as ms-swift does: its worker process can hang if forked after torch has started threads
    if not grpo:   # GRPO encodes lazily, per generated completion (below)
        encoded = AddLengthPreprocessor(template=template)(train, num_proc=1, load_from_cache_file=False,
                                                           strict=False)
        report["loaded"] = len(encoded)

    dropped, kept, first_index, on_policy = [], 0, None, []
    for row in train:
        hits = by_content.get(_key([_path(im) for im in (row.get("images") or [])], row["messages"])) or [(None, None)]
        index, sid = hits.pop(0) if len(hits) > 1 else hits[0]
        try:
            if grpo:
                enc, sample = grpo_encode(row, template, tokenizer)
            else:
                enc = template.encode(dict(row))
        except Exception as e:   # ms-swift's preprocessor drops such rows (or raises with --strict)
            dropped.append({"index": index, "id": sid, "reason": f"{type(e).__name__}: {e}"})
            continue
        ids, labels = list(enc["input_ids"]), list(enc["labels"])
        if limit is None or kept < limit:
            placeholders = sum(str(m.get("content") or "").count("<image>") for m in row["messages"])
            report["samples"].append({
                "index": index, "id": sid, "images": [_path(im) for im in (row.get("images") or [])],
                "image_tokens": runs(ids, pad_id), "placeholders": placeholders, "input_len": len(ids),
                "target_tokens": sum(1 for t in labels if t != IGNORE_INDEX)})
            if grpo:
                on_policy.append(sample)
        if index is not None and (first_index is None or index < first_index):   # the export's first row
            first_index = index
            report["first"] = {
                "prompt": tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX]),
                "target": tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])}
        kept += 1
    if grpo:
        report["loaded"] = kept
    if on_policy:
        for entry, scores in zip(report["samples"], grpo_rewards(args, on_policy)):
            entry["rewards"] = scores
    missing = len(rows) - len(train)
    if missing:
        dropped.append({"index": None, "id": None, "reason": f"{missing} row(s) lost by ms-swift's dataset loading"})
    report["dropped"] = dropped


if __name__ == "__main__":
    run("swift", ("ms-swift", "transformers", "torch", "datasets", "qwen-vl-utils"), check)
