"""Fixed harness of the rl_algorithm task (cpu config): RL from a supervised warm start with the candidate's update
rule, under DeepSpeed, in the jail.

Per step: sample a group of answers for each of a batch of training problems, reward each 1/0 by correctness,
turn the group rewards into advantages with the candidate's `advantages`, then take `ppo_epochs` optimiser
steps on the candidate's `policy_loss`. It trains once per seed from the same warm start and writes the trained
weights to `$ASI_EVOLVE_TRAIN_OUT/result.bin`; the evaluator decodes held-out problems (which never enter the
jail) with them itself. Progress lines (`@asi-progress {...}`) stream out.

    python train.py WARM_START.pt CONFIG.json
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import sys
import time

import deepspeed
import torch
from answers import is_correct  # beside this script in the jail
from asi_harness import ds_config, load_candidate, progress, write_result
from policy import answer_mask, decode, make_policy, prompt_batch, sample, token_logprobs
from update import checked_advantages, policy_steps


def rl_train(program, warm: dict, cfg: dict, ds_config: dict, pairs: list, seed: int, offset: int,
             total: int) -> tuple[dict, dict]:
    torch.manual_seed(seed)
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    policy, reference = make_policy(cfg), make_policy(cfg)
    policy.load_state_dict(warm)
    reference.load_state_dict(warm)
    reference.eval().requires_grad_(False)
    config = {**ds_config, "train_micro_batch_size_per_gpu": cfg["prompts_per_step"] * cfg["group_size"],
              "optimizer": {"type": "AdamW", "params": {"lr": cfg["rl_lr"], "weight_decay": 0.0,
                                                        "torch_adam": True}}}
    engine, *_ = deepspeed.initialize(model=policy, model_parameters=policy.parameters(), config=config)
    g, start, rewards_seen = cfg["group_size"], time.perf_counter(), []
    for step in range(cfg["rl_steps"]):
        batch = rng.sample(pairs, cfg["prompts_per_step"])
        prompts = prompt_batch(batch, cfg["digits"]).repeat_interleave(g, dim=0)
        answers = sample(engine.module.eval(), prompts, cfg["answer_len"], cfg["temperature"], gen)
        engine.module.train()
        golds = [a + b for a, b in batch for _ in range(g)]
        rewards = torch.tensor([float(is_correct(decode(row), gold)) for row, gold in zip(answers.tolist(), golds,
                                                                                          strict=True)])
        adv = checked_advantages(program, rewards.view(-1, g)).flatten()
        mask = answer_mask(answers)
        with torch.no_grad():
            old_logp = token_logprobs(engine.module, prompts, answers)
            ref_logp = token_logprobs(reference, prompts, answers)
        loss = policy_steps(engine, program, token_logprobs, (prompts, answers), old_logp, ref_logp, adv, mask,
                            cfg["ppo_epochs"], step)
        rewards_seen.append(rewards.mean().item())
        if step % cfg["log_every"] == 0 or step == cfg["rl_steps"] - 1:
            elapsed = time.perf_counter() - start
            progress(phase=f"rl seed {seed}", step=offset + step + 1, steps=total, loss=round(loss.item(), 4),
                     tokens_per_s=round((step + 1) * len(answers) * cfg["answer_len"] / max(elapsed, 1e-9)),
                     elapsed_s=round(elapsed, 2))
    weights = {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items()}
    tail = rewards_seen[-max(1, len(rewards_seen) // 5):]
    return weights, {"reward_first": rewards_seen[0], "reward_last": sum(tail) / len(tail)}


def main() -> None:
    warm = torch.load(sys.argv[1], weights_only=True)
    cfg = json.loads(open(sys.argv[2]).read())
    launch = ds_config()
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    program = load_candidate()
    pairs = [tuple(p) for p in cfg["train_pairs"]]
    seeds, out, stats = cfg["seeds"], {}, []
    for i, seed in enumerate(seeds):
        weights, info = rl_train(program, copy.deepcopy(warm), cfg, launch, pairs, seed, i * cfg["rl_steps"],
                                 len(seeds) * cfg["rl_steps"])
        out[f"seed{i}"] = weights
        stats += [info["reward_first"], info["reward_last"]]
    out["stats"] = torch.tensor(stats, dtype=torch.float64)
    buffer = io.BytesIO()
    torch.save(out, buffer)
    write_result(buffer.getvalue())


if __name__ == "__main__":
    main()
