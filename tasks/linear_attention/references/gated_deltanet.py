"""Gated DeltaNet (Yang, Kautz, Hatamizadeh 2024, "Gated Delta Networks: Improving Mamba2 with Delta Rule"): the
delta rule of DeltaNet plus a Mamba2-style data-dependent decay, S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} +
beta_t k_t v_t^T with alpha_t = exp(g_t), g_t = -exp(A_log) * softplus(a_t + dt_bias) < 0 per head, so the state
can both forget quickly (alpha) and overwrite precisely (beta); o_t = S_t^T q_t. Chunked WY/UT form with the
cumulative decay inside each chunk, SiLU + L2-normalised q and k, short causal convolutions, and a gated per-head
RMSNorm (rmsnorm(o) * silu(W_g x)) before the output projection, as in the paper's implementation."""
import math

import torch
import torch.nn.functional as F
from torch import nn

# EVOLVE-BLOCK-START


def chunk_gated_delta_rule(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, g: torch.Tensor,
                           chunk_size: int = 32) -> torch.Tensor:
    """S_t = exp(g_t) S_{t-1} + beta_t k_t (v_t - exp(g_t) S_{t-1}^T k_t)^T from S_0 = 0, output o_t = S_t^T q_t.

    q, k: (B, H, T, Dk); v: (B, H, T, Dv); beta, g: (B, H, T) with g <= 0; returns (B, H, T, Dv). With G_i the
    cumulative log decay from the chunk start, Gamma[i, j] = exp(G_i - G_j): A = I + tril(diag(beta) (K K^T * Gamma),
    -1), W = A^-1 diag(beta exp(G)) K, U = A^-1 diag(beta) V, and the values written from entering state S are U - W S.
    Every decay factor is exp(of a non-positive number), so nothing overflows."""
    t, dk = k.shape[2], k.shape[3]
    pad = math.ceil(t / chunk_size) * chunk_size - t
    # zero padding at the end: beta = 0, k = 0 and g = 0 (no decay) leave the state untouched
    q, k, v = (F.pad(z, (0, 0, 0, pad)).unflatten(2, (-1, chunk_size)) for z in (q, k, v))  # (B, H, N, C, D)
    beta = F.pad(beta, (0, pad)).unflatten(2, (-1, chunk_size)).unsqueeze(-1)  # (B, H, N, C, 1)
    g = F.pad(g, (0, pad)).unflatten(2, (-1, chunk_size)).cumsum(-1)  # G: (B, H, N, C)
    ones = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device)
    # masked before exp: the upper triangle holds G_i - G_j > 0, which could overflow
    decay = (g.unsqueeze(-1) - g.unsqueeze(-2)).masked_fill(~ones.tril(), -math.inf).exp()  # (B, H, N, C, C)
    k_beta = k * beta
    a = (k_beta @ k.transpose(-1, -2) * decay).masked_fill(~ones.tril(-1), 0)  # unit diagonal implied below
    w = torch.linalg.solve_triangular(a, k_beta * g.exp().unsqueeze(-1), upper=False, unitriangular=True)
    u = torch.linalg.solve_triangular(a, v * beta, upper=False, unitriangular=True)
    attn = q @ k.transpose(-1, -2) * decay  # intra-chunk decayed q_i . k_j, zero for j > i
    q_decay = q * g.exp().unsqueeze(-1)  # q_i exp(G_i): reads the entering state decayed up to i
    k_decay = k * (g[..., -1:] - g).exp().unsqueeze(-1)  # k_i exp(G_C - G_i): decay from i to the chunk end
    s = q.new_zeros(q.shape[0], q.shape[1], dk, v.shape[-1])
    out = []
    for n in range(q.shape[2]):
        u_n = u[:, :, n] - w[:, :, n] @ s
        out.append(q_decay[:, :, n] @ s + attn[:, :, n] @ u_n)
        s = g[:, :, n, -1, None, None].exp() * s + k_decay[:, :, n].transpose(-1, -2) @ u_n
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
    """Causal multi-head Gated DeltaNet.

    Args:
        d_model: model width (input and output feature size).
        n_heads: number of heads; d_model % n_heads == 0, head size d_model // n_heads.
        layer_idx: 0-based position of the block in the stack (unused here, available for depth-dependent designs).

    forward(x): x of shape (batch, seq, d_model) -> same shape. Causal: the output at t depends only on x[:, :t+1].
    qkvbg(x) returns q, k, v (batch, n_heads, seq, head_dim) and beta, g (batch, n_heads, seq): exactly the inputs
    of chunk_gated_delta_rule.
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
        self.a_proj = nn.Linear(d_model, n_heads, bias=False)
        self.g_proj = nn.Linear(d_model, d_model, bias=False)  # output gate
        self.q_conv, self.k_conv, self.v_conv = ShortConv(d_model), ShortConv(d_model), ShortConv(d_model)
        # Mamba2's init draws the decay rate A ~ U(1, 16); at this scale and training length that forgets within
        # a few tokens before the gate learns otherwise, so A starts small (alpha = exp(-A dt) >= 0.95 at first);
        # time step dt log-uniform in [1e-3, 1e-1] (dt_bias = softplus^-1(dt)) as in Mamba2
        self.A_log = nn.Parameter(torch.empty(n_heads).uniform_(0.05, 0.5).log())
        dt = torch.exp(torch.rand(n_heads) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.o_norm_weight = nn.Parameter(torch.ones(self.head_dim))
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H * D) -> (B, H, T, D)."""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def qkvbg(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # unit-norm keys make (I - beta k k^T) non-expansive (eigenvalues 1 and 1 - beta), so the state stays bounded
        q = F.normalize(self.heads(F.silu(self.q_conv(self.q_proj(x)))), dim=-1, eps=1e-6)
        k = F.normalize(self.heads(F.silu(self.k_conv(self.k_proj(x)))), dim=-1, eps=1e-6)
        v = self.heads(F.silu(self.v_conv(self.v_proj(x))))
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)  # (B, H, T) writing strength in (0, 1)
        g = -self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)  # (B, T, H) log decay, always < 0
        return q, k, v, beta, g.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v, beta, g = self.qkvbg(x)
        o = chunk_gated_delta_rule(q, k, v, beta, g, self.chunk_size)
        o = F.rms_norm(o, (self.head_dim,), self.o_norm_weight, eps=1e-5)  # per-head output norm
        o = o * F.silu(self.heads(self.g_proj(x)))  # data-dependent output gate
        return self.o_proj(o.transpose(1, 2).flatten(2))


# EVOLVE-BLOCK-END


def build_mixer(d_model: int, n_heads: int, layer_idx: int = 0) -> nn.Module:
    """The harness calls this to make the mixer of each block."""
    return TokenMixer(d_model, n_heads, layer_idx)
