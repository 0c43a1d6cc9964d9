"""Backend-side check for TRL (runs INSIDE its environment: TRL's own stack + the stdlib-only bridge.backends.inenv).

Follows TRL's own data path on our export, as the launcher feeds it (bridge/backends/trl/launcher.py):

* the JSONL is loaded with ``datasets.load_dataset("json")`` and ``images`` cast to ``Sequence(Image())``;
* the processor is the model's, with ``size.shortest_edge``/``longest_edge`` set to the config's pixel bounds (what
  the launcher does), so its resize is the resize policy's;
* SFT: every row goes through ``DataCollatorForVisionLanguageModeling`` (``completion_only_loss``, no truncation) —
  the collator SFTTrainer builds for a vision dataset: ``prepare_multimodal_messages`` fills our ``{"type":
  "image"}`` blocks, ``apply_chat_template`` renders prompt and completion, the processor tokenises and expands
  the image pads; labels are -100 outside the completion;
* GRPO: each prompt goes through what ``GRPOTrainer`` does before generating — ``prepare_multimodal_messages``
  with the row's images, then ``processor.apply_chat_template(add_generation_prompt=True, tokenize=True)``; the
  target reported is the ``target`` column, the completion a perfect policy would generate.

Prints one ``BRIDGE_CHECK <json>`` line (protocol: bridge/backends/check.py); ``placeholders`` counts the image
blocks in the prompt (TRL has no text placeholder). No model weights are loaded.
"""
import json

from bridge.backends.inenv import IGNORE_INDEX, run, runs
from bridge.backends.trl.launcher import processor_for   # the launcher's processor, pixel bounds and all









def image_blocks(messages):
    return sum(1 for m in messages if isinstance(m.get("content"), list)
               for b in m["content"] if b.get("type") == "image")


def check(req, report):
    import datasets
    import yaml

    cfg = yaml.safe_load(open(req["config"]["config"], encoding="utf-8"))
    path = req["export"]["files"]["train"]
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    report["samples_in"] = len(lines)
    report["method"] = cfg["method"]

    ds = datasets.load_dataset("json", data_files=path, split="train")
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    processor = processor_for(req["model"], cfg.get("processor") or {})
    tokenizer = processor.tokenizer
    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    limit = req.get("limit")
    args = cfg.get("args") or {}
    if cfg["method"] == "sft":
        from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

        collator = DataCollatorForVisionLanguageModeling(
            processor, max_length=args.get("max_length"), completion_only_loss=args.get("completion_only_loss", True))

    dropped, kept = [], 0
    for index, example in enumerate(ds):
        sid = lines[index].get("id") if index < len(lines) else None
        try:
            if cfg["method"] == "sft":
                batch = collator([dict(example)])
                mask = batch["attention_mask"][0].tolist()
                ids = [t for t, m in zip(batch["input_ids"][0].tolist(), mask) if m]
                labels = [t for t, m in zip(batch["labels"][0].tolist(), mask) if m]
                prompt_ids = [t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX]
                target_ids = [t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX]
                target = tokenizer.decode(target_ids)
            else:
                from trl.data_utils import prepare_multimodal_messages

                prompt = prepare_multimodal_messages(example["prompt"], images=example.get("images") or [])
                tok = processor.apply_chat_template(conversation=[prompt], add_generation_prompt=True, tokenize=True,
                                                    return_dict=True)
                ids = prompt_ids = list(tok["input_ids"][0])
                target = example.get("target") or ""
                target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        except Exception as e:   # the trainer would stop on this row
            dropped.append({"index": index, "id": sid, "reason": f"{type(e).__name__}: {e}"})
            continue
        if limit is None or kept < limit:
            report["samples"].append({
                "index": index, "id": sid, "images": list(lines[index].get("images") or []),
                "image_tokens": runs(ids, pad_id), "placeholders": image_blocks(lines[index]["prompt"]),
                "input_len": len(ids), "target_tokens": len(target_ids)})
        if index == 0:
            report["first"] = {"prompt": tokenizer.decode(prompt_ids), "target": target}
        kept += 1
    report["loaded"] = kept
    if len(ds) != len(lines):
        dropped.append({"index": None, "id": None,
                        "reason": f"datasets read {len(ds)} rows from {len(lines)} lines"})
    report["dropped"] = dropped


if __name__ == "__main__":
    run("trl", ("trl", "transformers", "torch", "datasets", "pillow"), check)
