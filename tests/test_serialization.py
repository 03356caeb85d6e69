"""save/load: round trips, atomic writes, and files that must be refused without running."""
import hashlib
import json
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.serialization import MAGIC, SerializationError

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16,
          np.complex128]


def _same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, ag.Tensor):
        _same(np.asarray(a.data), np.asarray(b.data))
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


@given(arrays=st.lists(st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))),
    max_size=4))
def test_arrays_round_trip(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("rt") / "a.ag"
    obj = {f"k{i}": a for i, a in enumerate(arrays)}
    ag.save(obj, path)
    _same(obj, ag.load(path))


def test_nested_values_round_trip(tmp_path):
    big_endian = np.arange(6, dtype=">f8").reshape(2, 3)
    strided = np.arange(20.0).reshape(4, 5)[::2, ::-2]
    obj = {"w": ag.tensor([[1.5, 2.0]]), "s": np.float32(2.5), "none": None, "t": True,
           "i": -(2 ** 62), "f": 0.1, "nan": float("nan"), "inf": -float("inf"), "u": "ünïcode",
           "list": [1, [2.0, "x"], ()], "tuple": (np.int64(3), None),
           "state": {0: {"step": 3.0}, 7: {}}, "be": big_endian, "strided": strided}
    ag.save(obj, path := tmp_path / "x.ag")
    back = ag.load(path)
    _same({**obj, "be": big_endian.astype("<f8"), "strided": strided.copy()}, back)
    assert back["be"].dtype.isnative and back["w"].requires_grad is False
    back["strided"][0, 0] = 99  # loaded arrays are writable copies


def test_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "m.ag"
    ag.save({"v": np.ones(3)}, path)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        ag.save({"v": np.zeros(3)}, path)
    np.testing.assert_array_equal(ag.load(path)["v"], np.ones(3))  # the old file survives
    assert os.listdir(tmp_path) == ["m.ag"]  # and no temporary is left behind


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and umask")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["umask022", "umask027", "umask002"])
def test_saved_file_has_the_mode_open_would_give(tmp_path, umask, mode):
    import stat

    old = os.umask(umask)
    try:
        ag.save({"v": np.ones(2)}, tmp_path / "m.ag")
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.ag").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="folders can be fsynced on POSIX")
def test_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    import stat

    synced = []
    real_fsync = os.fsync

    def record(fd):
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        synced.append(("dir" if is_dir else "file", (tmp_path / "m.ag").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    ag.save({"v": np.ones(2)}, tmp_path / "m.ag")
    assert synced == [("file", False), ("dir", True)]  # the data first, the rename after it


def test_format_is_as_documented(tmp_path):
    ag.save({"a": np.array([1.0, 2.0], np.float32)}, path := tmp_path / "d.ag")
    blob = path.read_bytes()
    magic, version, hlen, digest = struct.unpack_from("<8sIQ32s", blob)
    header = blob[52:52 + hlen]
    assert magic == MAGIC and version == 1 and hashlib.sha256(header).digest() == digest
    meta = json.loads(header)
    payload = blob[52 + hlen:]
    assert meta["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    node = meta["tree"]["items"][0][1]
    assert node == {"t": "array", "dtype": "<f4", "shape": [2], "offset": 0, "nbytes": 8}
    assert np.frombuffer(payload, "<f4").tolist() == [1.0, 2.0]


def _saved(tmp_path):
    path = tmp_path / "ok.ag"
    ag.save({"w": np.arange(10.0), "n": 3}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("cut", [0, 5, 30, 60, -1, -8])
def test_truncated_files_are_refused(tmp_path, cut):
    path, blob = _saved(tmp_path)
    path.write_bytes(blob[:cut])
    with pytest.raises(SerializationError, match="truncated|not an autograd"):
        ag.load(path)


def test_tampered_files_are_refused(tmp_path):
    path, blob = _saved(tmp_path)
    data = bytearray(blob)
    data[-3] ^= 1  # one bit of the payload
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="payload checksum"):
        ag.load(path)
    hstart = 52
    text = blob[hstart:].replace(b'"shape":[10]', b'"shape":[11]', 1)
    path.write_bytes(blob[:hstart] + text)
    with pytest.raises(SerializationError, match="header checksum"):
        ag.load(path)
    path.write_bytes(blob + b"extra")
    with pytest.raises(SerializationError, match="trailing"):
        ag.load(path)


def test_a_consistent_forgery_is_still_validated(tmp_path):
    """Someone who recomputes the checksums still cannot make load read out of bounds."""
    path = tmp_path / "f.ag"
    payload = b"\x00" * 8
    tree = {"t": "array", "dtype": "<f8", "shape": [1000], "offset": 0, "nbytes": 8000}
    header = json.dumps({"format": "autograd-state", "version": 1, "payload_size": 8,
                         "payload_sha256": hashlib.sha256(payload).hexdigest(),
                         "tree": tree}).encode()
    pre = struct.pack("<8sIQ32s", MAGIC, 1, len(header), hashlib.sha256(header).digest())
    path.write_bytes(pre + header + payload)
    with pytest.raises(SerializationError, match="does not fit"):
        ag.load(path)
    header = header.replace(b"<f8", b"|O8")
    pre = struct.pack("<8sIQ32s", MAGIC, 1, len(header), hashlib.sha256(header).digest())
    path.write_bytes(pre + header + payload)
    with pytest.raises(SerializationError, match="dtype"):
        ag.load(path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ag"
    path.write_bytes(pickle.dumps({"w": _Evil(str(marker))}))
    with pytest.raises(SerializationError, match="pickle"):
        ag.load(path)
    assert not marker.exists()


def test_foreign_and_future_files(tmp_path):
    path = tmp_path / "x"
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(SerializationError, match=r"\.npy"):
        ag.load(tmp_path / "a.npy")
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(SerializationError, match="zip"):
        ag.load(path)
    _, blob = _saved(tmp_path)
    path.write_bytes(blob[:8] + struct.pack("<I", 2) + blob[12:])
    with pytest.raises(SerializationError, match="version 2"):
        ag.load(path)
    assert issubclass(SerializationError, ag.AutogradError)


@pytest.mark.parametrize("bad", [{"f": lambda: 1}, {"o": np.array([object()])}, {(1, 2): 3},
                                 {"s": {1, 2}}])
def test_unsavable_values_are_refused(tmp_path, bad):
    with pytest.raises(SerializationError):
        ag.save(bad, tmp_path / "b.ag")
    assert not (tmp_path / "b.ag").exists()
