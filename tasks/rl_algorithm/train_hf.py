"""Harness of the rl_algorithm task's gpu config: the candidate's update rule trains a real causal LM (a Hugging
Face model folder, loaded with transformers) on math word problems, under DeepSpeed, in the jail.

Per step: sample a group of answers per training problem, reward each by whether its final answer is right
(`answers.is_correct`, math-verify for LaTeX), turn group rewards into advantages with the candidate's
`advantages` and take `ppo_epochs` steps on its `policy_loss`. Then it answers the evaluation problems (their
answers never enter the jail) greedily and writes the texts to `$ASI_EVOLVE_TRAIN_OUT/result.bin`; the
evaluator checks them. Progress lines (`@asi-progress {...}`) stream out.

    python train_hf.py CONFIG.json      (the model folder is ./policy)
"""

from __future__ import annotations

import json
import random
import sys
import time

import deepspeed
import torch
from answers import is_correct  # beside this script in the jail
from asi_harness import ds_config, load_candidate, progress, rank, write_result
from transformers import AutoModelForCausalLM, AutoTokenizer
from update import checked_advantages, policy_steps

INSTRUCTION = "Solve the problem. Put the final answer in \\boxed{}."


def render(tokenizer, question: str) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": f"{INSTRUCTION}\n\n{question}"}],
                                             tokenize=False, add_generation_prompt=True)
    return f"{INSTRUCTION}\n\nQuestion: {question}\nAnswer:"


def generate(model, tokenizer, questions: list[str], new_tokens: int, sample: bool, temperature: float,
             repeat: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(prompt ids, answer ids, answer texts); prompts left-padded so every answer starts at the same column."""
    tokenizer.padding_side = "left"
    batch = tokenizer([render(tokenizer, q) for q in questions], return_tensors="pt", padding=True)
    device = next(model.parameters()).device
    ids, attn = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=new_tokens, do_sample=sample,
                             temperature=temperature if sample else None, top_p=None, top_k=None,
                             num_return_sequences=repeat, pad_token_id=tokenizer.pad_token_id)
    answers = out[:, ids.shape[1]:]
    texts = tokenizer.batch_decode(answers, skip_special_tokens=True)
    return ids.repeat_interleave(repeat, dim=0), answers, texts


def token_logprobs(model, prompts: torch.Tensor, answers: torch.Tensor, pad: int) -> torch.Tensor:
    seq = torch.cat([prompts, answers], dim=1)
    attn = (seq != pad).long()
    attn[:, prompts.shape[1]:] = 1  # generated tokens count even where they equal the pad id
    logits = model(input_ids=seq, attention_mask=attn).logits[:, prompts.shape[1] - 1:-1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, answers[..., None]).squeeze(-1)


def answer_mask(answers: torch.Tensor, eos: int | None) -> torch.Tensor:
    if eos is None:
        return torch.ones_like(answers, dtype=torch.float)
    ended = torch.cumsum((answers == eos).int(), dim=1) - (answers == eos).int()
    return (ended == 0).float()


def main() -> None:
    cfg = json.loads(open(sys.argv[1]).read())
    launch = ds_config()
    program = load_candidate()
    seed = cfg["seeds"][0]
    torch.manual_seed(seed)
    rng = random.Random(seed * 1009 + rank())  # each rank its own problems
    tokenizer = AutoTokenizer.from_pretrained("policy")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if launch.get("bf16", {}).get("enabled") else torch.float32
    model = AutoModelForCausalLM.from_pretrained("policy", dtype=dtype)
    reference = AutoModelForCausalLM.from_pretrained("policy", dtype=dtype).eval().requires_grad_(False)
    g = cfg["group_size"]
    config = {**launch, "train_micro_batch_size_per_gpu": cfg["prompts_per_step"] * g,
              "optimizer": {"type": "AdamW", "params": {"lr": cfg["rl_lr"], "weight_decay": 0.0,
                                                        "torch_adam": True}}}
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
    reference.to(engine.device)
    problems, start, rewards_seen = cfg["train_problems"], time.perf_counter(), []
    for step in range(cfg["rl_steps"]):
        batch = rng.sample(problems, min(cfg["prompts_per_step"], len(problems)))
        prompts, answers, texts = generate(engine.module, tokenizer, [q for q, _ in batch], cfg["max_new_tokens"],
                                           True, cfg["temperature"], g)
        golds = [gold for _, gold in batch for _ in range(g)]
        rewards = torch.tensor([float(is_correct(t, gold)) for t, gold in zip(texts, golds, strict=True)])
        adv = checked_advantages(program, rewards.view(-1, g))
        adv = adv.flatten().to(engine.device)
        mask = answer_mask(answers, tokenizer.eos_token_id)
        with torch.no_grad():
            old_logp = token_logprobs(engine.module, prompts, answers, tokenizer.pad_token_id)
            ref_logp = token_logprobs(reference, prompts, answers, tokenizer.pad_token_id)
        loss = policy_steps(engine, program, token_logprobs, (prompts, answers, tokenizer.pad_token_id), old_logp,
                            ref_logp, adv, mask, cfg["ppo_epochs"], step)
        rewards_seen.append(rewards.mean().item())
        if step % cfg["log_every"] == 0 or step == cfg["rl_steps"] - 1:
            elapsed = time.perf_counter() - start
            progress(phase="rl", step=step + 1, steps=cfg["rl_steps"], loss=round(loss.item(), 4),
                     tokens_per_s=round((step + 1) * answers.numel() / max(elapsed, 1e-9)),
                     elapsed_s=round(elapsed, 2))
    results = {}
    for name, questions in cfg["eval_questions"].items():
        texts: list[str] = []
        for i in range(0, len(questions), cfg["eval_batch"]):
            texts += generate(engine.module.eval(), tokenizer, questions[i:i + cfg["eval_batch"]],
                              cfg["eval_max_new_tokens"], False, 1.0)[2]
        results[name] = texts
        progress(phase=f"eval {name}", step=len(texts), steps=len(questions))
    write_result(json.dumps({"answers": results, "rewards": rewards_seen}).encode())


if __name__ == "__main__":
    main()
