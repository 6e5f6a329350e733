"""Drug and protein featurisation for drug–target tasks: RDKit for molecules, composition counts for sequences.

Trusted code: the launcher tool and the task's evaluator call it, never a candidate. A candidate names the
features it wants (`DRUG_FEATURES = {"morgan": {"radius": 2, "n_bits": 1024}}`, `PROTEIN_FEATURES = {...}`)
and receives the matrices. Each matrix is cached under the run's folder by (featuriser, its options, the
inputs, the RDKit version), so a candidate that changes only its model reuses the fingerprints its parent had.

Bad inputs never raise: an unparsable SMILES gives a zero row and a reason, a protein sequence is upper-cased
and stripped of anything but letters (non-standard residues such as X, B, Z, U count as unknown), an empty one
gives a zero row and a reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools import pyast

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_INDEX = {a: i for i, a in enumerate(AMINO_ACIDS)}
# Kyte & Doolittle (1982) hydropathy index
_HYDROPATHY = dict(zip(AMINO_ACIDS, (1.8, 2.5, -3.5, -3.5, 2.8, -0.4, -3.2, 4.5, -3.9, 3.8, 1.9, -3.5, -1.6, -3.5,
                                     -4.5, -0.8, -0.7, 4.2, -0.9, -1.3), strict=True))


class FeatureSpecError(ValueError):
    """A feature request names an unknown featuriser or an option it does not take; one line."""


# ------------------------------------------------------------------------------------------------- molecules

def parse_smiles(smiles: str) -> tuple[Any, str]:
    """(RDKit molecule, "") or (None, one-line reason)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if not isinstance(smiles, str) or not smiles.strip():
        return None, "empty SMILES"
    mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None:
        return None, f"RDKit cannot parse SMILES {smiles[:60]!r}"
    return mol, ""


def _morgan(mol: Any, radius: int = 2, n_bits: int = 1024, counts: bool = False) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return gen.GetCountFingerprintAsNumPy(mol) if counts else gen.GetFingerprintAsNumPy(mol)


def _atom_pair(mol: Any, n_bits: int = 1024) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetAtomPairGenerator(fpSize=n_bits).GetFingerprintAsNumPy(mol)


def _torsion(mol: Any, n_bits: int = 1024) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetTopologicalTorsionGenerator(fpSize=n_bits).GetFingerprintAsNumPy(mol)


def _rdkit_fp(mol: Any, max_path: int = 7, n_bits: int = 2048) -> np.ndarray:
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetRDKitFPGenerator(maxPath=max_path, fpSize=n_bits).GetFingerprintAsNumPy(mol)


def _maccs(mol: Any) -> np.ndarray:
    from rdkit import DataStructs
    from rdkit.Chem import MACCSkeys

    out = np.zeros(0)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), out)
    return out


def _descriptors(mol: Any) -> np.ndarray:
    """RDKit's 2D descriptors (about 200: weights, logP, TPSA, ring and atom counts, charges, ...)."""
    from rdkit.Chem import Descriptors

    values = Descriptors.CalcMolDescriptors(mol)
    return np.array([v if isinstance(v, int | float) and math.isfinite(v) else 0.0
                     for _, v in sorted(values.items())], dtype=np.float64)


DRUG_FEATURIZERS: dict[str, Callable[..., np.ndarray]] = {
    "morgan": _morgan, "atom_pair": _atom_pair, "torsion": _torsion, "rdkit_fp": _rdkit_fp, "maccs": _maccs,
    "descriptors": _descriptors,
}


# -------------------------------------------------------------------------------------------------- proteins

def clean_sequence(sequence: str) -> tuple[str, str]:
    """(upper-case letters of the sequence, "" or a one-line note on what was odd about it)."""
    raw = sequence if isinstance(sequence, str) else ""
    letters = "".join(c for c in raw.upper() if "A" <= c <= "Z")
    if not letters:
        return "", "empty protein sequence"
    dropped = sum(not c.isspace() for c in raw) - len(letters)  # line breaks of a FASTA record are not odd
    unknown = sum(c not in _INDEX for c in letters)
    notes = [f"{dropped} non-letter characters removed"] if dropped else []
    if unknown:
        notes.append(f"{unknown} non-standard residues")
    return letters, "; ".join(notes)


def _composition(sequence: str) -> np.ndarray:
    out = np.zeros(len(AMINO_ACIDS))
    for c in sequence:
        if c in _INDEX:
            out[_INDEX[c]] += 1
    return out / max(1, len(sequence))


def _dipeptide(sequence: str) -> np.ndarray:
    out = np.zeros(len(AMINO_ACIDS) ** 2)
    for a, b in itertools.pairwise(sequence):
        if a in _INDEX and b in _INDEX:
            out[_INDEX[a] * len(AMINO_ACIDS) + _INDEX[b]] += 1
    return out / max(1, len(sequence) - 1)


def _kmer(sequence: str, k: int = 3, n_dims: int = 1024) -> np.ndarray:
    """k-mer composition hashed into `n_dims` buckets (stable across processes: no Python `hash`)."""
    out = np.zeros(n_dims)
    for i in range(len(sequence) - k + 1):
        digest = hashlib.blake2b(sequence[i:i + k].encode(), digest_size=8).digest()
        out[int.from_bytes(digest, "little") % n_dims] += 1
    return out / max(1, len(sequence) - k + 1)


def _physchem(sequence: str) -> np.ndarray:
    """Length (log), mean hydropathy, net charge at neutral pH per residue, aromatic and unknown shares."""
    n = max(1, len(sequence))
    hydro = sum(_HYDROPATHY.get(c, 0.0) for c in sequence) / n
    charge = (sum(c in "KR" for c in sequence) - sum(c in "DE" for c in sequence)) / n
    aromatic = sum(c in "FWY" for c in sequence) / n
    unknown = sum(c not in _INDEX for c in sequence) / n
    return np.array([math.log(n), hydro, charge, aromatic, unknown])


PROTEIN_FEATURIZERS: dict[str, Callable[..., np.ndarray]] = {
    "aac": _composition, "dipeptide": _dipeptide, "kmer": _kmer, "physchem": _physchem,
}


# ------------------------------------------------------------------------------------------ matrices, cached

def requested_features(source: str, defaults: tuple[Any, Any]) -> tuple[dict, dict]:
    """The program's `DRUG_FEATURES` and `PROTEIN_FEATURES`, read without running it (literals only); the
    `defaults` where it sets none. `FeatureSpecError` in one line for a value that is not a literal mapping."""
    import ast

    try:
        tree = pyast.parse(source)
    except SyntaxError as exc:
        raise FeatureSpecError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    found = {"DRUG_FEATURES": defaults[0], "PROTEIN_FEATURES": defaults[1]}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) and node.value is not None else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id in found:
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    raise FeatureSpecError(f"{target.id} must be a literal mapping such as {{'morgan': "
                                           f"{{'radius': 2, 'n_bits': 1024}}}} (line {node.lineno})") from None
    return (check_spec(found["DRUG_FEATURES"], "drug"), check_spec(found["PROTEIN_FEATURES"], "protein"))


@dataclass
class FeatureMatrix:
    """Rows of features for a list of inputs, and why any row is all zeros."""

    values: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)


def check_spec(spec: Any, kind: str) -> dict[str, dict[str, Any]]:
    """The spec as {featuriser: options}; `FeatureSpecError` in one line for anything else."""
    registry = DRUG_FEATURIZERS if kind == "drug" else PROTEIN_FEATURIZERS
    if not isinstance(spec, Mapping) or not spec:
        raise FeatureSpecError(f"{kind} features must be a non-empty mapping {{name: {{options}}}}, "
                               f"e.g. {{{next(iter(registry))!r}: {{}}}}")
    out: dict[str, dict[str, Any]] = {}
    for name, options in spec.items():
        if name not in registry:
            raise FeatureSpecError(f"unknown {kind} featuriser {name!r} (choose from: {', '.join(registry)})")
        options = dict(options or {})
        allowed = set(registry[name].__code__.co_varnames[1:registry[name].__code__.co_argcount])
        if set(options) - allowed:
            raise FeatureSpecError(f"{kind} featuriser {name!r} takes {', '.join(sorted(allowed)) or 'no options'}, "
                                   f"not {', '.join(sorted(set(options) - allowed))}")
        for key, value in options.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 14:
                if not (key == "counts" and isinstance(value, bool)):
                    raise FeatureSpecError(f"{kind} featuriser {name!r}: {key} must be an integer in 1..16384")
        out[str(name)] = options
    return out


def _compute(kind: str, name: str, options: dict[str, Any], items: Sequence[str]) -> FeatureMatrix:
    rows: list[np.ndarray | None] = []
    problems: dict[int, str] = {}
    for i, item in enumerate(items):
        if kind == "drug":
            mol, problem = parse_smiles(item)
            rows.append(None if mol is None else np.asarray(DRUG_FEATURIZERS[name](mol, **options), np.float64))
        else:
            sequence, problem = clean_sequence(item)
            rows.append(np.asarray(PROTEIN_FEATURIZERS[name](sequence, **options), np.float64) if sequence else None)
        if problem:
            problems[i] = problem
    width = next((len(r) for r in rows if r is not None), 0)
    values = np.zeros((len(items), width))
    for i, row in enumerate(rows):
        if row is not None:
            values[i] = row
    return FeatureMatrix(values, problems)


class FeatureCache:
    """Feature matrices kept as files under `folder`, one per (kind, featuriser, options, inputs, RDKit)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.hits = self.misses = 0

    def matrix(self, kind: str, name: str, options: dict[str, Any], items: Sequence[str]) -> FeatureMatrix:
        from rdkit import __version__ as rdkit_version

        key = hashlib.sha256(json.dumps([kind, name, options, list(items), rdkit_version],
                                        sort_keys=True).encode()).hexdigest()[:20]
        path = self.folder / f"{kind}-{name}-{key}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    problems = json.loads(str(stored["problems"]))
                    self.hits += 1
                    return FeatureMatrix(stored["values"], {int(k): v for k, v in problems.items()})
            except (OSError, ValueError, KeyError):
                pass  # a damaged file is rebuilt below
        self.misses += 1
        result = _compute(kind, name, options, items)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, values=result.values, problems=np.array(json.dumps(result.problems)))
        tmp.replace(path)
        return result

    def features(self, kind: str, spec: Any, items: Sequence[str]) -> FeatureMatrix:
        """Every featuriser of `spec` side by side, with the problems of each row."""
        parts = [self.matrix(kind, name, options, items) for name, options in check_spec(spec, kind).items()]
        problems: dict[int, str] = {}
        for part in parts:
            for i, problem in part.problems.items():
                problems.setdefault(i, problem)
        return FeatureMatrix(np.hstack([p.values for p in parts]), problems)
