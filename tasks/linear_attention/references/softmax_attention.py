"""Causal softmax attention (Vaswani et al. 2017, "Attention Is All You Need"), the quadratic-cost reference the
linear mixers try to match: per-head softmax(q k^T / sqrt(d)) v under a causal mask, computed with
F.scaled_dot_product_attention(is_causal=True). Rotary position embeddings (Su et al. 2021, "RoFormer") on q and k
give it positions, as in the "Transformer++" baseline of the DeltaNet and Gated DeltaNet papers."""
import math

import torch
import torch.nn.functional as F
from torch import nn

# EVOLVE-BLOCK-START


def rotary(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate pairs (x[i], x[i + D/2]) of x (B, H, T, D) by angle t * base^(-2i/D): q . k then depends on t_q - t_k."""
    t, half = x.shape[-2], x.shape[-1] // 2
    inv_freq = torch.exp(-math.log(base) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = torch.arange(t, device=x.device, dtype=torch.float32)[:, None] * inv_freq  # (T, D/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]  # rest: the odd last dim, if any
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, rest], dim=-1)


class ShortConv(nn.Module):
    """Causal depthwise convolution over time (kernel 4): left padding, so position t sees only t-3..t."""

    def __init__(self, dim: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel_size, groups=dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        x = F.pad(x.transpose(1, 2), (self.conv.kernel_size[0] - 1, 0))
        return self.conv(x).transpose(1, 2)


class TokenMixer(nn.Module):
    """Causal multi-head softmax attention with rotary position embeddings.

    Args:
        d_model: model width (input and output feature size).
        n_heads: number of heads; d_model % n_heads == 0, head size d_model // n_heads.
        layer_idx: 0-based position of the block in the stack (unused here).

    forward(x): x of shape (batch, seq, d_model) -> same shape. Causal: the output at t depends only on x[:, :t+1].
    qkv(x) returns the rotated q, k and the values v, each (batch, n_heads, seq, head_dim).
    """

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0) -> None:
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.n_heads, self.head_dim, self.layer_idx = n_heads, d_model // n_heads, layer_idx
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.q_conv, self.k_conv, self.v_conv = ShortConv(d_model), ShortConv(d_model), ShortConv(d_model)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * D) -> (B, H, T, D)."""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = rotary(self.heads(self.q_conv(self.q_proj(x))))
        k = rotary(self.heads(self.k_conv(self.k_proj(x))))
        return q, k, self.heads(self.v_conv(self.v_proj(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(head_dim) by default
        return self.o_proj(o.transpose(1, 2).flatten(2))


# EVOLVE-BLOCK-END


def build_mixer(d_model: int, n_heads: int, layer_idx: int = 0) -> nn.Module:
    """The harness calls this to make the mixer of each block."""
    return TokenMixer(d_model, n_heads, layer_idx)
