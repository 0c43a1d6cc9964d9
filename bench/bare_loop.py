"""The floor of bench/train_bench.py: a bare PyTorch forward + backward + AdamW loop of the recipe's model on one
batch of the recipe's own data. Runs INSIDE the TRL environment (torch, transformers, peft):

    python bench/bare_loop.py --config RUN_DIR/trl_config.yaml --steps 12 --skip 4

Reads the config `bridge run --backend trl --dry-run` rendered (model, processor pixel bounds, finetune, exported
train file, optimiser settings), so model, batch, trainable parameters and optimiser match what the trainers get.
The batch is the first ``per_device_train_batch_size`` records, encoded once with the processor's chat template;
labels mask the prompt (train on the completion, as every backend does). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import yaml


def encode(processor, records):
    """input_ids/attention_mask/pixel_values/image_grid_thw + labels (prompt and padding = -100)."""
    from PIL import Image

    texts, prompt_lens, images = [], [], []
    for r in records:
        messages = r["prompt"] + r["completion"]
        texts.append(processor.apply_chat_template(messages, tokenize=False))
        prompt = processor.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
        imgs = [Image.open(p).convert("RGB") for p in r["images"]]
        prompt_lens.append(int(processor(text=[prompt], images=imgs or None, return_tensors="pt")
                               ["input_ids"].shape[1]))
        images.append(imgs)
    processor.tokenizer.padding_side = "right"
    batch = processor(text=texts, images=[i for imgs in images for i in imgs] or None, padding=True,
                      return_tensors="pt")
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for i, n in enumerate(prompt_lens):
        labels[i, :n] = -100
    batch["labels"] = labels
    return batch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="trl_config.yaml rendered by `bridge run --backend trl`")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--skip", type=int, default=4, help="first steps left out of the steady-state time")
    ap.add_argument("--head", choices=("labels", "full"), default="labels",
                    help="labels: the LM head only at the positions that carry a label (the least work a trainer "
                         "must do; TRL's SFTTrainer does this); full: logits at every position (model(**batch).loss)")
    ns = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForImageTextToText

    from bridge.backends.trl.launcher import freeze_parts, lora_targets, processor_for

    cfg = yaml.safe_load(Path(ns.config).read_text(encoding="utf-8"))
    args = cfg["args"]
    torch.manual_seed(int(args.get("seed", 0)))
    processor = processor_for(cfg["model"], cfg.get("processor") or {})
    model = AutoModelForImageTextToText.from_pretrained(cfg["model"], dtype=torch.float32)
    ft = cfg["finetune"]
    train = {k: bool(v) for k, v in ft["train"].items()}
    if ft["type"] == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=ft["rank"], lora_alpha=ft["alpha"], lora_dropout=ft["dropout"], task_type="CAUSAL_LM",
            target_modules=lora_targets(model, train, ft["target_modules"])))
    else:
        freeze_parts(model, train)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args["learning_rate"], weight_decay=args.get("weight_decay", 0.0),
                            betas=(args.get("adam_beta1", 0.9), args.get("adam_beta2", 0.999)),
                            eps=args.get("adam_epsilon", 1e-8))
    bs = int(args["per_device_train_batch_size"])
    lines = Path(cfg["train_file"]).read_text(encoding="utf-8").splitlines()[:bs]
    batch = encode(processor, [json.loads(x) for x in lines])
    core = model.get_base_model() if hasattr(model, "get_base_model") else model   # LoRA layers sit inside it
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    target = batch["labels"][:, 1:]
    keep = target != -100

    def labels_loss():
        # the same loss as model(**batch).loss (checked below), with the 151,936-row head on label positions only
        hidden = core.model(**inputs).last_hidden_state[:, :-1]
        return torch.nn.functional.cross_entropy(core.lm_head(hidden[keep]).float(), target[keep])

    forward = labels_loss if ns.head == "labels" else (lambda: model(**batch).loss)
    with torch.no_grad():
        full, mine = float(model(**batch).loss), float(labels_loss())
    if abs(full - mine) > 1e-4 * max(1.0, abs(full)):
        raise SystemExit(f"label-position loss {mine} != the model's own loss {full}")
    times, losses = [], []
    for _ in range(ns.steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = forward()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, args.get("max_grad_norm", 1.0))
        opt.step()
        times.append(time.perf_counter() - t)
        losses.append(float(loss.detach()))
    steady = times[ns.skip:] or times
    print(json.dumps({
        "step_times": times, "s_per_step": sum(steady) / len(steady), "losses": losses,
        "tokens_per_step": int(batch["attention_mask"].sum()), "seq_len": int(batch["input_ids"].shape[1]),
        "batch": bs, "head": ns.head, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
