"""The fixed policy of the rl_algorithm task's cpu config: a small causal transformer that answers "a+b=" with the
digits of the sum, its tokenizer, sampling and greedy decoding, and the supervised warm start.

Standalone (torch only): the training harness imports it inside the jail; the trusted evaluator imports it to
build the warm start and to decode the held-out problems with the weights the training sent back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAD, EOS = 0, 1
CHARS = "0123456789+="
VOCAB = 2 + len(CHARS)


def encode(text: str) -> list[int]:
    return [2 + CHARS.index(c) for c in text]


def decode(ids: list[int]) -> str:
    """Answer tokens up to the first end token; anything else (pad, a stray end) reads as a space."""
    out = []
    for i in ids:
        if i == EOS:
            break
        out.append(CHARS[i - 2] if i >= 2 else " ")
    return "".join(out)


class Policy(nn.Module):
    """Token and position embeddings, pre-norm transformer layers under a causal mask, output head."""

    def __init__(self, d_model: int, n_layers: int, n_heads: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(t, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=tokens.device)
        return self.head(self.norm(self.layers(x, mask=mask, is_causal=True)))


def make_policy(cfg: dict) -> Policy:
    return Policy(cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["max_len"])


def problems(digits: int) -> list[tuple[int, int]]:
    top = 10 ** digits
    return [(a, b) for a in range(top) for b in range(top)]


def prompt_batch(pairs: list[tuple[int, int]], digits: int) -> torch.Tensor:
    """Prompts "a+b=" with zero-padded operands, so every prompt has the same length (and positions mean the same
    digit everywhere)."""
    return torch.tensor([encode(f"{a:0{digits}d}+{b:0{digits}d}=") for a, b in pairs])


@torch.no_grad()
def sample(policy: Policy, prompts: torch.Tensor, new_tokens: int, temperature: float,
           gen: torch.Generator | None = None) -> torch.Tensor:
    """Answer tokens (N, new_tokens) sampled after each prompt (temperature 0: greedy); after an end token the
    rest is padding."""
    seq = prompts
    done = torch.zeros(len(prompts), dtype=torch.bool)
    for _ in range(new_tokens):
        logits = policy(seq)[:, -1].float()
        if temperature > 0:
            probs = F.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        else:
            nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        done |= nxt == EOS
        seq = torch.cat([seq, nxt[:, None]], dim=1)
    return seq[:, prompts.shape[1]:]


def answer_mask(answers: torch.Tensor) -> torch.Tensor:
    """1 for the answer's tokens up to and including its end token, 0 for the padding after it."""
    ended_before = torch.cumsum((answers == EOS).int(), dim=1) - (answers == EOS).int()
    return ((ended_before == 0) & (answers != PAD)).float()


def token_logprobs(policy: nn.Module, prompts: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """log pi(answer token | prompt, earlier answer tokens), (N, T)."""
    seq = torch.cat([prompts, answers], dim=1)
    logits = policy(seq[:, :-1]).float()[:, prompts.shape[1] - 1:]
    return torch.log_softmax(logits, dim=-1).gather(-1, answers[..., None]).squeeze(-1)


def answer_tokens(pairs: list[tuple[int, int]], length: int) -> torch.Tensor:
    rows = [encode(str(a + b)) + [EOS] for a, b in pairs]
    return torch.tensor([r + [PAD] * (length - len(r)) for r in rows])


def warm_start(cfg: dict, pairs: list[tuple[int, int]], seed: int) -> Policy:
    """Supervised training on worked sums, kept short on purpose: a partly right policy for RL to improve."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = make_policy(cfg)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg["sft_lr"])
    for _ in range(cfg["sft_steps"]):
        batch = [pairs[i] for i in torch.randint(0, len(pairs), (cfg["sft_batch"],), generator=gen).tolist()]
        prompts, answers = prompt_batch(batch, cfg["digits"]), answer_tokens(batch, cfg["answer_len"])
        logp = token_logprobs(policy, prompts, answers)
        loss = -(logp * answer_mask(answers)).sum() / answer_mask(answers).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.eval()


@torch.no_grad()
def greedy_answers(policy: Policy, pairs: list[tuple[int, int]], cfg: dict, batch: int = 512) -> list[str]:
    """The policy's greedy answer text for each problem."""
    texts: list[str] = []
    for i in range(0, len(pairs), batch):
        answers = sample(policy, prompt_batch(pairs[i:i + batch], cfg["digits"]), cfg["answer_len"], 0.0)
        texts += [decode(row) for row in answers.tolist()]
    return texts
