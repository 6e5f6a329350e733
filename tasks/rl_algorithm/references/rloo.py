"""RLOO (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!"; Ahmadian et al. 2024, "Back to
Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs"): REINFORCE with a
leave-one-out baseline. Each answer's baseline is the mean reward of the *other* answers in its group, so its
own reward never enters its baseline and the gradient stays unbiased; no ratio clipping is needed for a single
update per batch, and the sequence log-probability is weighted by the advantage."""
import torch

# EVOLVE-BLOCK-START
KL_COEF = 0.02


def advantages(rewards: torch.Tensor) -> torch.Tensor:
    """rewards: (prompts, group) of 0/1 correctness -> advantages of the same shape."""
    g = rewards.shape[1]
    others = (rewards.sum(dim=1, keepdim=True) - rewards) / max(g - 1, 1)
    return rewards - others


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
    """Scalar loss; shapes as in GRPO: logp, old_logp, ref_logp, mask (N, T); adv (N,)."""
    ratio = torch.exp(logp - old_logp)  # importance weight for later epochs on the same batch
    log_ref_ratio = ref_logp - logp
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1
    weighted = ratio.detach() * logp * adv[:, None] - KL_COEF * kl
    return -(weighted * mask).sum(dim=1).mean()


# EVOLVE-BLOCK-END
