"""Model files are data: a file that would run code is refused before anything runs, shipped
names resolve inside the package only, and a damaged or edited file is one clear error."""

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from structid import pretrained
from structid.errors import InputError
from structid.lattices import lattice
from structid.models.base import content_digest
from structid.models.denoiser import Denoiser
from structid.models.less import LESS
from structid.models.nmcnn import NMCNN
from structid.registry import get_classifier

LOADERS = [NMCNN, LESS, Denoiser]


class _WritesAFile:
    """Unpickling this calls os.system: what a malicious model file would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _envelope(kind: str, state) -> dict:
    return {"format": "structid-model", "kind": kind, "version": 1, "params": {}, "state": state,
            "history": {}, "metadata": {}}


@pytest.mark.parametrize("cls", LOADERS, ids=lambda c: c.__name__)
def test_a_file_that_would_run_code_runs_nothing(cls, tmp_path):
    marker = tmp_path / "pwned"
    for name, data in {
        "plain.pt": pickle.dumps(_envelope(cls.kind, {"x": _WritesAFile(marker)})),
        "torch.pt": _torch_bytes(_envelope(cls.kind, {"x": _WritesAFile(marker)})),
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match="not a readable structid model"):
            cls.load(path)
    assert not marker.exists()


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_a_skops_blob_with_foreign_types_is_refused(tmp_path):
    import skops.io
    from sklearn.pipeline import FunctionTransformer

    from structid.models.base import bytes_tensor

    good = LESS.load(pretrained.path("less-8"))
    blob = skops.io.dumps({"level0": [(0, FunctionTransformer(func=print))], "stats": {}})
    path = tmp_path / "evil.pt"
    payload = torch.load(pretrained.path("less-8"), weights_only=True)
    payload["state"]["ensemble"] = bytes_tensor(blob)
    payload["digest"] = content_digest(payload)
    path.write_bytes(_torch_bytes(payload))
    with pytest.raises(InputError, match="holds types structid does not load: builtins.print"):
        LESS.load(path)
    assert good.classes_


@pytest.mark.parametrize("name", pretrained.shipped())
def test_shipped_models_carry_a_digest_that_matches(name):
    payload = torch.load(pretrained.path(name), weights_only=True)
    assert payload["digest"] == content_digest(payload)


def test_flipped_bytes_are_caught(tmp_path, rng):
    """64 bytes flipped inside the weights of the shipped NM-CNN: refused, not used."""
    data = bytearray(pretrained.path("nmcnn-metals").read_bytes())
    tensors = [k for k in range(len(data)) if k > len(data) // 3][:: max(1, len(data) // 200)]
    for k in rng.choice(tensors, 64, replace=False):
        data[k] ^= 0xFF
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged|not a readable structid model"):
        NMCNN.load(path)


def test_edited_envelopes_give_one_line_errors(tmp_path):
    payload = torch.load(pretrained.path("nmcnn-metals"), weights_only=True)
    cases = {}
    wrong_shape = {**payload, "state": {**payload["state"], "network": dict(payload["state"]["network"])}}
    key = next(iter(wrong_shape["state"]["network"]))
    wrong_shape["state"]["network"][key] = torch.zeros(3, 3)
    cases["size mismatch"] = wrong_shape
    cases["missing key"] = {**payload, "state": {k: v for k, v in payload["state"].items() if k != "network"}}
    cases["no state"] = {k: v for k, v in payload.items() if k != "state"}
    for name, edited in cases.items():
        edited = {k: v for k, v in edited.items() if k != "digest"}
        path = tmp_path / f"{name}.pt"
        path.write_bytes(_torch_bytes(edited))
        with pytest.raises(InputError, match="damaged nmcnn model file") as info:
            NMCNN.load(path)
        assert "\n" not in str(info.value), name
    tampered = tmp_path / "tampered.pt"
    tampered.write_bytes(_torch_bytes({**payload, "metadata": {"name": "someone else"}}))
    with pytest.raises(InputError, match="damaged .* SHA-256"):
        NMCNN.load(tampered)


def test_shipped_names_never_load_a_local_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "denoiser-dc3").write_bytes(b"not the shipped model")
    (tmp_path / "nmcnn-metals").write_bytes(b"not the shipped model")
    assert pretrained.resolve("denoiser-dc3", "denoiser-metals") == pretrained.path("denoiser-dc3")
    labels = get_classifier("nmcnn", model="nmcnn-metals").classify(lattice("fcc", 2.5, 3))
    assert labels.counts() == {"fcc": 108}
    # a local file is still reachable by a path
    with pytest.raises(InputError, match="not a readable structid model"):
        NMCNN.load(pretrained.resolve("./nmcnn-metals", "nmcnn-metals"))
