"""The linear_attention task's token mixers: shape, causality, chunked == recurrent, and a working backward pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

TASK_DIR = Path(__file__).resolve().parents[2] / "tasks" / "linear_attention"
PROGRAMS = {
    "linear_attention": TASK_DIR / "initial_program.py",
    "softmax_attention": TASK_DIR / "references" / "softmax_attention.py",
    "deltanet": TASK_DIR / "references" / "deltanet.py",
    "gated_deltanet": TASK_DIR / "references" / "gated_deltanet.py",
}
BATCH, SEQ, D_MODEL, N_HEADS = 2, 70, 32, 2  # 70: not a multiple of any chunk size, so padding is exercised


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"linear_attention_{name}_under_test", PROGRAMS[name])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULES = {name: _load(name) for name in PROGRAMS}


def _mixer(name: str, dtype: torch.dtype = torch.float32, layer_idx: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODULES[name].build_mixer(D_MODEL, N_HEADS, layer_idx).to(dtype)


def _input(dtype: torch.dtype = torch.float32, seq: int = SEQ) -> torch.Tensor:
    return torch.randn(BATCH, seq, D_MODEL, generator=torch.Generator().manual_seed(1), dtype=dtype)


def recurrent_gated_delta_rule(q, k, v, beta, g=None):
    """Token by token: S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t."""
    s = q.new_zeros(q.shape[0], q.shape[1], q.shape[-1], v.shape[-1])
    eye = torch.eye(q.shape[-1], dtype=q.dtype)
    out = []
    for t in range(q.shape[2]):
        q_t, k_t, v_t, b_t = q[:, :, t], k[:, :, t], v[:, :, t], beta[:, :, t, None, None]
        alpha_t = 1.0 if g is None else g[:, :, t, None, None].exp()
        kk_t, kv_t = k_t[..., :, None] * k_t[..., None, :], k_t[..., :, None] * v_t[..., None, :]
        s = alpha_t * (eye - b_t * kk_t) @ s + b_t * kv_t
        out.append((s.transpose(-1, -2) @ q_t[..., None])[..., 0])
    return torch.stack(out, 2)


def recurrent_linear_attention(q, k, v, eps=1e-6):
    """Token by token: S_t = S_{t-1} + k_t v_t^T, z_t = z_{t-1} + k_t, o_t = S_t^T q_t / (q_t . z_t + eps)."""
    s = q.new_zeros(q.shape[0], q.shape[1], q.shape[-1], v.shape[-1])
    z = q.new_zeros(q.shape[0], q.shape[1], q.shape[-1])
    out = []
    for t in range(q.shape[2]):
        s = s + k[:, :, t, :, None] * v[:, :, t, None, :]
        z = z + k[:, :, t]
        num = (s.transpose(-1, -2) @ q[:, :, t, :, None])[..., 0]
        out.append(num / ((q[:, :, t] * z).sum(-1, keepdim=True) + eps))
    return torch.stack(out, 2)


@pytest.mark.parametrize("name", PROGRAMS)
def test_output_has_the_input_shape(name: str) -> None:
    x = _input()
    with torch.no_grad():
        y = _mixer(name)(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("t", [0, 31, 32, 45, SEQ - 2])
def test_mixer_is_causal(name: str, t: int) -> None:
    mixer, x = _mixer(name), _input()
    x2 = x.clone()
    x2[:, t + 1 :] += 10 * torch.randn(BATCH, SEQ - t - 1, D_MODEL, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y, y2 = mixer(x), mixer(x2)
    torch.testing.assert_close(y2[:, : t + 1], y[:, : t + 1], atol=1e-5, rtol=0)
    assert not torch.allclose(y2[:, t + 1 :], y[:, t + 1 :])  # the perturbation does reach later positions


@pytest.mark.parametrize("chunk_size", [8, 32, 64])
def test_chunked_delta_rule_equals_recurrence(chunk_size: int) -> None:
    module, mixer, x = MODULES["deltanet"], _mixer("deltanet", torch.float64), _input(torch.float64)
    with torch.no_grad():
        q, k, v, beta = mixer.qkvb(x)
        chunked = module.chunk_delta_rule(q, k, v, beta, chunk_size)
        torch.testing.assert_close(chunked, recurrent_gated_delta_rule(q, k, v, beta), atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunk_size", [8, 32, 64])
def test_chunked_gated_delta_rule_equals_recurrence(chunk_size: int) -> None:
    module, mixer, x = MODULES["gated_deltanet"], _mixer("gated_deltanet", torch.float64), _input(torch.float64)
    with torch.no_grad():
        q, k, v, beta, g = mixer.qkvbg(x)
        assert (g < 0).all()
        chunked = module.chunk_gated_delta_rule(q, k, v, beta, g, chunk_size)
        torch.testing.assert_close(chunked, recurrent_gated_delta_rule(q, k, v, beta, g), atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunk_size", [8, 64])
def test_chunked_linear_attention_equals_recurrence(chunk_size: int) -> None:
    module, mixer, x = MODULES["linear_attention"], _mixer("linear_attention", torch.float64), _input(torch.float64)
    with torch.no_grad():
        q, k, v = mixer.qkv(x)
        chunked = module.chunk_linear_attention(q, k, v, chunk_size)
        torch.testing.assert_close(chunked, recurrent_linear_attention(q, k, v), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["deltanet", "gated_deltanet"])
def test_chunked_gradients_equal_recurrent_gradients(name: str) -> None:
    """The WY/UT solve and the decay masks differentiate like the plain recurrence (float64, chunk 8)."""
    module, mixer, x = MODULES[name], _mixer(name, torch.float64), _input(torch.float64, seq=21)
    with torch.no_grad():
        inputs = [z.clone().requires_grad_() for z in (mixer.qkvb(x) if name == "deltanet" else mixer.qkvbg(x))]
    kernel = module.chunk_delta_rule if name == "deltanet" else module.chunk_gated_delta_rule
    weight = torch.randn(
        BATCH, N_HEADS, 21, D_MODEL // N_HEADS, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    chunked = torch.autograd.grad((kernel(*inputs, 8) * weight).sum(), inputs)
    recurrent = torch.autograd.grad((recurrent_gated_delta_rule(*inputs) * weight).sum(), inputs)
    for a, b in zip(chunked, recurrent, strict=True):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "kernel", "reference"),
    [
        ("linear_attention", "chunk_linear_attention", lambda q, k, v, chunk_size: recurrent_linear_attention(q, k, v)),
        ("deltanet", "chunk_delta_rule", lambda q, k, v, beta, chunk_size: recurrent_gated_delta_rule(q, k, v, beta)),
        (
            "gated_deltanet",
            "chunk_gated_delta_rule",
            lambda q, k, v, beta, g, chunk_size: recurrent_gated_delta_rule(q, k, v, beta, g),
        ),
    ],
)
def test_forward_in_float32_matches_the_recurrent_forward(name, kernel, reference, monkeypatch) -> None:
    """The whole forward (projections, norms, gates) with the chunked kernel swapped for the recurrence."""
    mixer, x = _mixer(name), _input()
    with torch.no_grad():
        chunked = mixer(x)
        monkeypatch.setattr(MODULES[name], kernel, reference)
        recurrent = mixer(x)
    torch.testing.assert_close(chunked, recurrent, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", PROGRAMS)
def test_backward_gives_finite_gradients(name: str) -> None:
    mixer, x = _mixer(name), _input().requires_grad_()
    loss = mixer(x).square().mean()
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in mixer.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("seq", [1, 5, 128])
def test_any_sequence_length_and_layer_index(name: str, seq: int) -> None:
    mixer, x = _mixer(name, layer_idx=3), _input(seq=seq)
    with torch.no_grad():
        y = mixer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("name", PROGRAMS)
def test_forward_is_deterministic(name: str) -> None:
    mixer, x = _mixer(name), _input()
    with torch.no_grad():
        assert torch.equal(mixer(x), mixer(x))


def _harness() -> ModuleType:
    """The task's train.py as the jail sees it (asi_harness and mqar beside it)."""
    import sys

    tools = Path(__file__).resolve().parents[2] / "tools"
    for module, path in (("asi_harness", tools / "train_harness.py"), ("mqar", TASK_DIR / "mqar.py")):
        if module not in sys.modules:
            spec = importlib.util.spec_from_file_location(module, path)
            sys.modules[module] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[module])
    spec = importlib.util.spec_from_file_location("linear_attention_train_under_test", TASK_DIR / "train.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return harness


class BroadcastAttention(torch.nn.Module):
    """Quadratic causal attention without a matrix product: what torch's FLOP counter alone would call free."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        scores = (h[:, :, None, :] * h[:, None, :, :]).sum(-1)
        causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
        weights = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        return (weights[..., None] * h[:, None, :, :]).sum(2)


def test_the_cost_count_sees_quadratic_work_however_it_is_written() -> None:
    harness = _harness()
    import math

    def exponent(mixer: torch.nn.Module) -> float:
        (_, small), (_, large) = (harness.mixer_cost(mixer, D_MODEL, n, 1, repeats=1) for n in (64, 256))
        return math.log(large / small) / math.log(4)

    with torch.no_grad():
        assert exponent(BroadcastAttention(D_MODEL)) > 1.8
        assert exponent(_mixer("softmax_attention")) > 1.5
        assert 0.9 < exponent(_mixer("deltanet")) < 1.15 and 0.9 < exponent(_mixer("linear_attention")) < 1.15
