"""DeltaNet (Schlag et al. 2021, "Linear Transformers Are Secretly Fast Weight Programmers"; Yang et al. 2024,
"Parallelizing Linear Transformers with the Delta Rule over Sequence Length"): a linear-attention state updated by
the delta rule S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, i.e. each token overwrites the value stored
under its key instead of only adding to it; o_t = S_t^T q_t. Trained in the chunked WY/UT-transform form of Yang
et al., with SiLU + L2-normalised q and k, a short causal depthwise convolution on q, k, v and a per-head RMSNorm
on the output, as in the paper's implementation (flash-linear-attention)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

# EVOLVE-BLOCK-START


def chunk_delta_rule(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                     chunk_size: int = 32) -> torch.Tensor:
    """Delta rule S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T from S_0 = 0, output o_t = S_t^T q_t.

    q, k: (B, H, T, Dk); v: (B, H, T, Dv); beta: (B, H, T); returns (B, H, T, Dv). Within a chunk starting from
    state S the true written values are U - W S, with A = I + tril(diag(beta) K K^T, -1), W = A^-1 diag(beta) K and
    U = A^-1 diag(beta) V (the UT transform), so only the state needs a sequential loop over chunks."""
    t, dk = k.shape[2], k.shape[3]
    pad = math.ceil(t / chunk_size) * chunk_size - t
    # zero padding at the end: beta = 0 and k = 0 leave the state untouched; padded outputs are cut off
    q, k, v = (F.pad(z, (0, 0, 0, pad)).unflatten(2, (-1, chunk_size)) for z in (q, k, v))  # (B, H, N, C, D)
    beta = F.pad(beta, (0, pad)).unflatten(2, (-1, chunk_size)).unsqueeze(-1)  # (B, H, N, C, 1)
    k_beta, v_beta = k * beta, v * beta
    ones = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device)
    # strictly lower part of A; its unit diagonal is implied by unitriangular=True
    a = (k_beta @ k.transpose(-1, -2)).masked_fill(~ones.tril(-1), 0)
    w = torch.linalg.solve_triangular(a, k_beta, upper=False, unitriangular=True)
    u = torch.linalg.solve_triangular(a, v_beta, upper=False, unitriangular=True)
    attn = (q @ k.transpose(-1, -2)).masked_fill(~ones.tril(), 0)  # intra-chunk q_i . k_j for j <= i
    s = q.new_zeros(q.shape[0], q.shape[1], dk, v.shape[-1])
    out = []
    for n in range(q.shape[2]):
        u_n = u[:, :, n] - w[:, :, n] @ s  # values actually written, given the state entering the chunk
        out.append(q[:, :, n] @ s + attn[:, :, n] @ u_n)
        s = s + k[:, :, n].transpose(-1, -2) @ u_n
    return torch.stack(out, 2).flatten(2, 3)[:, :, :t]


class ShortConv(nn.Module):
    """Causal depthwise convolution over time (kernel 4): left padding, so position t sees only t-3..t."""

    def __init__(self, dim: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel_size, groups=dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        x = F.pad(x.transpose(1, 2), (self.conv.kernel_size[0] - 1, 0))
        return self.conv(x).transpose(1, 2)


class TokenMixer(nn.Module):
    """Causal multi-head DeltaNet.

    Args:
        d_model: model width (input and output feature size).
        n_heads: number of heads; d_model % n_heads == 0, head size d_model // n_heads.
        layer_idx: 0-based position of the block in the stack (unused here, available for depth-dependent designs).

    forward(x): x of shape (batch, seq, d_model) -> same shape. Causal: the output at t depends only on x[:, :t+1].
    qkvb(x) returns q, k, v (batch, n_heads, seq, head_dim) and beta (batch, n_heads, seq): exactly the inputs of
    chunk_delta_rule.
    """

    def __init__(self, d_model: int, n_heads: int, layer_idx: int = 0) -> None:
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.n_heads, self.head_dim, self.layer_idx = n_heads, d_model // n_heads, layer_idx
        self.chunk_size = 32
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.b_proj = nn.Linear(d_model, n_heads, bias=False)
        self.q_conv, self.k_conv, self.v_conv = ShortConv(d_model), ShortConv(d_model), ShortConv(d_model)
        self.o_norm_weight = nn.Parameter(torch.ones(self.head_dim))
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * D) -> (B, H, T, D)."""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def qkvb(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # unit-norm keys make (I - beta k k^T) non-expansive (eigenvalues 1 and 1 - beta), so the state stays bounded
        q = F.normalize(self.heads(F.silu(self.q_conv(self.q_proj(x)))), dim=-1, eps=1e-6)
        k = F.normalize(self.heads(F.silu(self.k_conv(self.k_proj(x)))), dim=-1, eps=1e-6)
        v = self.heads(F.silu(self.v_conv(self.v_proj(x))))
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)  # (B, H, T) writing strength in (0, 1)
        return q, k, v, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v, beta = self.qkvb(x)
        o = chunk_delta_rule(q, k, v, beta, self.chunk_size)
        o = F.rms_norm(o, (self.head_dim,), self.o_norm_weight, eps=1e-5)  # per-head output norm
        return self.o_proj(o.transpose(1, 2).flatten(2))


# EVOLVE-BLOCK-END


def build_mixer(d_model: int, n_heads: int, layer_idx: int = 0) -> nn.Module:
    """The harness calls this to make the mixer of each block."""
    return TokenMixer(d_model, n_heads, layer_idx)
