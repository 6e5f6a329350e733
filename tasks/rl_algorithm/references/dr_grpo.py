"""Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective"): GRPO without its two
biases. The advantage is the reward minus the group mean (no division by the group's standard deviation, which
over-weights questions that are almost always or almost never answered right), and token losses are summed and
divided by a constant (the longest answer length) instead of each answer's own length, which favours long
wrong answers."""
import torch

# EVOLVE-BLOCK-START
CLIP_EPS = 0.2
KL_COEF = 0.02


def advantages(rewards: torch.Tensor) -> torch.Tensor:
    """rewards: (prompts, group) of 0/1 correctness -> advantages of the same shape."""
    return rewards - rewards.mean(dim=1, keepdim=True)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
    """Scalar loss; shapes as in GRPO: logp, old_logp, ref_logp, mask (N, T); adv (N,)."""
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * a)
    log_ref_ratio = ref_logp - logp
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1
    per_token = -(surrogate - KL_COEF * kl) * mask
    return per_token.sum() / (mask.shape[0] * mask.shape[1])  # a constant normaliser: no length bias


# EVOLVE-BLOCK-END
