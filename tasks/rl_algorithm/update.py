"""The candidate's half of one RL step, shared by both harnesses (`train.py`, `train_hf.py`): its advantages,
checked, and `ppo_epochs` optimiser steps on its policy loss, checked. A candidate that returns the wrong shape,
a NaN or a non-scalar stops the training with a one-line reason instead of training on garbage."""

from __future__ import annotations

from collections.abc import Callable

import torch


def checked_advantages(program, rewards: torch.Tensor) -> torch.Tensor:
    """`program.advantages(rewards)` for a (prompts, group) reward tensor, as a finite float tensor of its shape."""
    adv = program.advantages(rewards.clone())
    if not isinstance(adv, torch.Tensor) or adv.shape != rewards.shape:
        shape = tuple(adv.shape) if isinstance(adv, torch.Tensor) else type(adv).__name__
        raise SystemExit(f"advantages returned {shape} for rewards of shape {tuple(rewards.shape)}")
    if not torch.isfinite(adv).all():
        raise SystemExit("advantages are not finite (NaN or inf)")
    return adv.detach().float()


def policy_steps(engine, program, logprobs: Callable[..., torch.Tensor], inputs: tuple, old_logp: torch.Tensor,
                 ref_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, epochs: int,
                 step: int) -> torch.Tensor:
    """Take `epochs` DeepSpeed steps on the candidate's loss; `logprobs(engine, *inputs)` gives the answer tokens'
    log-probs under the policy being trained."""
    loss = torch.zeros(())
    for _ in range(epochs):
        logp = logprobs(engine, *inputs)
        loss = program.policy_loss(logp, old_logp, ref_logp, adv, mask.to(logp.device))
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not torch.isfinite(loss):
            raise SystemExit(f"policy_loss gave {loss!r:.80} at step {step}: a finite scalar tensor is needed")
        engine.backward(loss.reshape(()))
        engine.step()
    return loss
