"""Plain causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs: Fast Autoregressive
Transformers with Linear Attention"): softmax(q k^T) is replaced by phi(q) phi(k)^T with the positive feature map
phi(x) = elu(x) + 1, so causal attention becomes running sums of phi(k) v^T and of phi(k), and each output is
phi(q)^T S_t normalised by phi(q) . z_t. Computed per head, chunk by chunk, without a Python loop."""
import math

import torch
import torch.nn.functional as F
from torch import nn

# EVOLVE-BLOCK-START


def chunk_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk_size: int = 64,
                           eps: float = 1e-6) -> torch.Tensor:
    """o_t = q_t^T S_t / (q_t . z_t + eps) with S_t = sum_{i<=t} k_i v_i^T and z_t = sum_{i<=t} k_i.

    q, k: (B, H, T, Dk) non-negative features; v: (B, H, T, Dv); returns (B, H, T, Dv). Inside a chunk the
    (masked) attention matrix is exact; across chunks only the per-chunk states are summed (exclusive cumsum),
    so memory is O(T/C * Dk * Dv) instead of O(T * Dk * Dv) for a token-level cumsum."""
    t = q.shape[2]
    pad = math.ceil(t / chunk_size) * chunk_size - t
    # zero padding at the end: padded keys add nothing, padded queries give 0 / eps = 0 and are cut off
    q, k, v = (F.pad(z, (0, 0, 0, pad)).unflatten(2, (-1, chunk_size)) for z in (q, k, v))  # (B, H, N, C, D)
    kv = k.transpose(-1, -2) @ v  # (B, H, N, Dk, Dv): state added by each chunk
    s_prev = F.pad(kv.cumsum(2)[:, :, :-1], (0, 0, 0, 0, 1, 0))  # state entering each chunk
    k_sum = k.sum(3)  # (B, H, N, Dk)
    z_prev = F.pad(k_sum.cumsum(2)[:, :, :-1], (0, 0, 1, 0))
    causal = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
    attn = (q @ k.transpose(-1, -2)).masked_fill(~causal, 0)  # (B, H, N, C, C), position i sees j <= i
    num = q @ s_prev + attn @ v
    den = (q @ z_prev.unsqueeze(-1)).squeeze(-1) + attn.sum(-1)
    o = num / (den.unsqueeze(-1) + eps)
    return o.flatten(2, 3)[:, :, :t]


class TokenMixer(nn.Module):
    """Causal multi-head linear attention.

    Args:
        d_model: model width (input and output feature size).
        n_heads: number of heads; d_model % n_heads == 0, head size d_model // n_heads.
        layer_idx: 0-based position of the block in the stack (unused here, available for depth-dependent designs).

    forward(x): x of shape (batch, seq, d_model) -> same shape. Causal: the output at t depends only on x[:, :t+1].
    qkv(x) returns the per-head feature-mapped q, k and the values v, each (batch, n_heads, seq, head_dim).
    """

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0) -> None:
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.n_heads, self.head_dim, self.layer_idx = n_heads, d_model // n_heads, layer_idx
        self.chunk_size = 64
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * D) -> (B, H, T, D)."""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # elu + 1 > 0 keeps every attention weight positive, so the normaliser q . z never vanishes
        q = F.elu(self.heads(self.q_proj(x))) + 1
        k = F.elu(self.heads(self.k_proj(x))) + 1
        return q, k, self.heads(self.v_proj(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        o = chunk_linear_attention(q, k, v, self.chunk_size)
        return self.o_proj(o.transpose(1, 2).flatten(2))


# EVOLVE-BLOCK-END


def build_mixer(d_model: int, n_heads: int, layer_idx: int = 0) -> nn.Module:
    """The harness calls this to make the mixer of each block."""
    return TokenMixer(d_model, n_heads, layer_idx)
