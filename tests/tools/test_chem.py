"""RDKit and sequence featurisation: shapes, bad inputs handled with a reason, specs checked, the cache reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.chem import FeatureCache, FeatureSpecError, check_spec, clean_sequence, parse_smiles, requested_features

ASPIRIN, CAFFEINE = "CC(=O)Oc1ccccc1C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"


def test_fingerprints_and_descriptors_have_their_widths(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    spec = {"morgan": {"radius": 2, "n_bits": 256}, "maccs": {}, "atom_pair": {"n_bits": 64}, "descriptors": {}}
    matrix = cache.features("drug", spec, [ASPIRIN, CAFFEINE])
    assert matrix.values.shape[0] == 2 and matrix.values.shape[1] > 256 + 167 + 64 + 150
    assert not matrix.problems and np.isfinite(matrix.values).all()
    assert (matrix.values[0] != matrix.values[1]).any()  # two molecules, two fingerprints
    counts = cache.features("drug", {"morgan": {"n_bits": 128, "counts": True}}, [ASPIRIN]).values
    assert counts.max() > 1  # counts, not bits


def test_bad_smiles_and_odd_sequences_give_zero_rows_and_reasons(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    drugs = cache.features("drug", {"morgan": {"n_bits": 64}}, [ASPIRIN, "C1CC((", ""])
    assert drugs.values.shape == (3, 64) and not drugs.values[1:].any() and drugs.values[0].any()
    assert "cannot parse" in drugs.problems[1] and drugs.problems[2] == "empty SMILES"
    proteins = cache.features("protein", {"aac": {}, "physchem": {}, "kmer": {"k": 2, "n_dims": 32}},
                              ["MKTAYIAK", "", "mkx-1 zz", None])  # type: ignore[list-item]
    assert proteins.values.shape == (4, 20 + 5 + 32) and not proteins.values[1].any()
    assert proteins.problems[1] == "empty protein sequence" and proteins.problems[3] == "empty protein sequence"
    assert "non-letter" in proteins.problems[2] and "non-standard" in proteins.problems[2]
    assert proteins.values[0, :20].sum() == pytest.approx(1.0)  # a composition
    assert clean_sequence("mk tA\n") == ("MKTA", "")
    assert clean_sequence("MK-1") == ("MK", "2 non-letter characters removed")
    assert parse_smiles("not a molecule")[0] is None


@pytest.mark.parametrize(("spec", "kind", "message"), [
    ({}, "drug", "non-empty mapping"),
    ({"ecfp": {}}, "drug", "unknown drug featuriser 'ecfp' (choose from: morgan"),
    ({"morgan": {"diameter": 4}}, "drug", "takes counts, n_bits, radius, not diameter"),
    ({"morgan": {"n_bits": 10**9}}, "drug", "integer in 1..16384"),
    ({"kmer": {"k": "3"}}, "protein", "integer in 1..16384"),
    (["aac"], "protein", "non-empty mapping"),
])
def test_a_bad_feature_request_is_one_line(spec, kind: str, message: str) -> None:
    with pytest.raises(FeatureSpecError, match=message.replace("(", r"\(")):
        check_spec(spec, kind)


def test_the_requested_features_are_read_without_running_the_program() -> None:
    source = "import os\nos.system('touch /tmp/x')\nDRUG_FEATURES = {'maccs': {}}\n"
    drug, protein = requested_features(source, ({"morgan": {}}, {"aac": {}}))
    assert drug == {"maccs": {}} and protein == {"aac": {}}
    with pytest.raises(FeatureSpecError, match="literal mapping"):
        requested_features("DRUG_FEATURES = dict(maccs={})\n", ({}, {}))
    with pytest.raises(FeatureSpecError, match="syntax error at line 1"):
        requested_features("DRUG_FEATURES = {\n", ({}, {}))


def test_the_cache_reuses_matrices_and_rebuilds_a_damaged_one(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    first = cache.features("drug", {"morgan": {"n_bits": 64}}, [ASPIRIN, CAFFEINE])
    again = FeatureCache(tmp_path)
    second = again.features("drug", {"morgan": {"n_bits": 64}}, [ASPIRIN, CAFFEINE])
    assert (again.hits, again.misses) == (1, 0) and np.array_equal(first.values, second.values)
    other = again.features("drug", {"morgan": {"n_bits": 128}}, [ASPIRIN, CAFFEINE])  # other options: computed
    assert again.misses == 1 and other.values.shape == (2, 128)
    for path in tmp_path.glob("*.npz"):
        path.write_bytes(b"garbage")
    rebuilt = FeatureCache(tmp_path)
    assert np.array_equal(rebuilt.features("drug", {"morgan": {"n_bits": 64}}, [ASPIRIN, CAFFEINE]).values,
                          first.values) and rebuilt.misses == 1
