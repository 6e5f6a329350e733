"""GRPO (Shao et al. 2024, "DeepSeekMath"): each answer's advantage is its reward normalised within its group
(minus the group mean, over the group's standard deviation); the loss is PPO's clipped surrogate per token,
averaged over each answer's tokens and then over answers, plus a KL penalty to the reference policy (the k3
estimator)."""
import torch

# EVOLVE-BLOCK-START
CLIP_EPS = 0.2
KL_COEF = 0.02


def advantages(rewards: torch.Tensor) -> torch.Tensor:
    """rewards: (prompts, group) of 0/1 correctness -> advantages of the same shape."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True)
    return (rewards - mean) / (std + 1e-4)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, adv: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
    """Scalar loss to minimise.

    logp: (N, T) log-probabilities of the sampled answer tokens under the policy being trained (with grad);
    old_logp: the same under the policy that sampled them; ref_logp: under the frozen reference policy;
    adv: (N,) one advantage per answer; mask: (N, T) 1 for answer tokens, 0 for padding.
    """
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * a)
    log_ref_ratio = ref_logp - logp
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1  # k3: unbiased, always >= 0
    per_token = -(surrogate - KL_COEF * kl)
    per_answer = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # length-normalised
    return per_answer.mean()


# EVOLVE-BLOCK-END
