"""Reference: a small two-tower neural model in torch (in the spirit of DeepDTA's drug and protein encoders,
with fingerprints and k-mer profiles in place of its convolutions over SMILES and sequence characters).

Each side is embedded by a small MLP; the pair's pKd is read from the concatenated embeddings and their
elementwise product. Trained with Adam on mean squared error for a fixed number of epochs, one thread.
"""

import numpy as np
import torch
from torch import nn

# EVOLVE-BLOCK-START
DRUG_FEATURES = {"morgan": {"radius": 2, "n_bits": 1024}, "maccs": {}}
PROTEIN_FEATURES = {"kmer": {"k": 3, "n_dims": 512}, "aac": {}}
WIDTH = 128
EPOCHS = 12
BATCH = 512
LR = 3e-3


class TwoTower(nn.Module):
    def __init__(self, drug_dim: int, protein_dim: int) -> None:
        super().__init__()
        self.drug = nn.Sequential(nn.Linear(drug_dim, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))
        self.protein = nn.Sequential(nn.Linear(protein_dim, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))
        self.head = nn.Sequential(nn.Linear(3 * WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))

    def forward(self, drug: torch.Tensor, protein: torch.Tensor) -> torch.Tensor:
        d, p = self.drug(drug), self.protein(protein)
        return self.head(torch.cat([d, p, d * p], dim=1)).squeeze(1)


def standardise(x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x, dtype=np.float32)
    return torch.from_numpy((x - x.mean(0)) / (x.std(0) + 1e-6))


def fit(train: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    drugs, proteins = standardise(train["drug_x"]), standardise(train["protein_x"])
    pairs = torch.from_numpy(train["pairs"]).long()
    y = torch.from_numpy(np.asarray(train["y"], dtype=np.float32))
    mean = float(y.mean())
    net = TwoTower(drugs.shape[1], proteins.shape[1])
    optimiser = torch.optim.Adam(net.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(pairs), generator=generator).split(BATCH):
            loss = nn.functional.mse_loss(net(drugs[pairs[batch, 0]], proteins[pairs[batch, 1]]) + mean, y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return {"net": net.eval(), "drugs": drugs, "proteins": proteins, "mean": mean}


def predict(model: dict, test: dict) -> np.ndarray:
    pairs = torch.from_numpy(test["pairs"]).long()
    with torch.no_grad():
        out = model["net"](model["drugs"][pairs[:, 0]], model["proteins"][pairs[:, 1]]) + model["mean"]
    return out.numpy()
# EVOLVE-BLOCK-END
