"""`save` and `load`: a pickle-free file format for state dicts (nothing in a file is ever run).

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic b"AGSTATE\\x00"
    8       4     format version (uint32, currently 1)
    12      8     header length H in bytes (uint64)
    20      32    SHA-256 of the header bytes
    52      H     header: UTF-8 JSON (below)
    52+H    ...   payload: the arrays' raw little-endian bytes, each at a 64-byte aligned offset

The header is ``{"format": "autograd-state", "version": 1, "payload_size": n,
"payload_sha256": hex, "tree": node}`` where a node is one of ``{"t": "none"}``,
``{"t": "bool"|"int"|"str", "v": value}``, ``{"t": "float", "v": float.hex(value)}`` (exact, and
nan/inf survive), ``{"t": "list"|"tuple", "items": [node, ...]}``,
``{"t": "dict", "items": [[key node, value node], ...]}`` (keys keep their type and order), and
``{"t": "array"|"tensor"|"scalar", "dtype": "<f4", "shape": [...], "offset": o, "nbytes": b}``
(numpy arrays, Tensors and numpy scalars; offsets relative to the payload).

Loading checks the magic, version, both checksums and every offset, size and dtype before
reading a byte of data, and only ever builds the types above.

>>> import os, tempfile
>>> import numpy as np, autograd as ag
>>> path = os.path.join(tempfile.mkdtemp(), "w.ag")
>>> ag.save({"w": np.arange(3.0), "step": 7}, path)
>>> ag.load(path)
{'w': array([0., 1., 2.]), 'step': 7}
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct

import numpy as np

from .errors import AutogradError
from .tensor import Tensor

MAGIC = b"AGSTATE\x00"
VERSION = 1
_PREAMBLE = struct.Struct("<8sIQ32s")
_ALIGN = 64
_MAX_DEPTH = 64
_DTYPES = frozenset("|b1 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 <c8 <c16".split())


class SerializationError(AutogradError, ValueError):
    """A file that is not a valid autograd state file, or an object that cannot be saved."""


# ---- saving -------------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write `obj` (nested dicts, lists and tuples of arrays, Tensors, numbers, strings and None,
    such as a module's or optimizer's state_dict) to `path`, atomically: a crash leaves either
    the old file or the new one, never a torn one."""
    chunks: list = []
    size = [0]

    def add_array(a: np.ndarray, kind: str) -> dict:
        if a.dtype.kind not in "biufc":
            raise SerializationError(f"save: cannot store arrays of dtype {a.dtype}")
        # (not ascontiguousarray: it turns 0-d arrays into 1-d ones)
        a = np.asarray(a, dtype=a.dtype.newbyteorder("<")).copy(order="C")
        pad = -size[0] % _ALIGN
        if pad:
            chunks.append(b"\x00" * pad)
            size[0] += pad
        node = {"t": kind, "dtype": a.dtype.str, "shape": list(a.shape), "offset": size[0],
                "nbytes": a.nbytes}
        chunks.append(a.tobytes())
        size[0] += a.nbytes
        return node

    def encode(value, depth: int):
        if depth > _MAX_DEPTH:
            raise SerializationError(f"save: nesting deeper than {_MAX_DEPTH} levels")
        if value is None:
            return {"t": "none"}
        if isinstance(value, (bool, np.bool_)):
            return {"t": "bool", "v": bool(value)}
        if isinstance(value, int):
            return {"t": "int", "v": int(value)}
        if isinstance(value, float):
            return {"t": "float", "v": float(value).hex()}
        if isinstance(value, str):
            return {"t": "str", "v": value}
        if isinstance(value, Tensor):
            return add_array(np.asarray(value.data), "tensor")
        if isinstance(value, np.ndarray):
            return add_array(value, "array")
        if isinstance(value, np.generic):
            return add_array(np.asarray(value), "scalar")
        if isinstance(value, (list, tuple)):
            return {"t": "list" if isinstance(value, list) else "tuple",
                    "items": [encode(v, depth + 1) for v in value]}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise SerializationError(f"save: dict keys must be str or int, got {k!r}")
                items.append([encode(k, depth + 1), encode(v, depth + 1)])
            return {"t": "dict", "items": items}
        raise SerializationError(f"save: cannot store a {type(value).__name__} (only dicts, "
                                 f"lists, tuples, arrays, Tensors, numbers, str and None)")

    tree = encode(obj, 0)
    payload = b"".join(chunks)
    header = json.dumps({"format": "autograd-state", "version": VERSION,
                         "payload_size": len(payload),
                         "payload_sha256": hashlib.sha256(payload).hexdigest(), "tree": tree},
                        separators=(",", ":"), allow_nan=False).encode("utf-8")
    preamble = _PREAMBLE.pack(MAGIC, VERSION, len(header), hashlib.sha256(header).digest())
    _write_atomically(os.fspath(path), (preamble, header, payload))


def _write_atomically(path: str, parts) -> None:
    """Write a temporary file beside `path`, fsync it, rename it over `path`, fsync the folder:
    a crash leaves the old file or the new one, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}.agstate")
    # Created as open(path, "wb") would create it: mode 0o666 less the umask, applied by the
    # kernel (mkstemp's 0o600 would make every saved file private; reading the umask to chmod
    # means setting it, racing other threads).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable. Some platforms (Windows) cannot open or fsync a folder:
    there the rename is as durable as the OS makes it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- loading ------------------------------------------------------------------------------------
def load(path):
    """Read a file written by `save`. Raises SerializationError for anything else (a pickle, a
    truncated or modified file) without running any of its content."""
    with open(os.fspath(path), "rb") as f:
        blob = f.read()
    name = os.fspath(path)
    if len(blob) < _PREAMBLE.size:
        raise SerializationError(f"load: {name!r} is truncated or not an autograd state file "
                                 f"({len(blob)} bytes)")
    magic, version, header_len, header_digest = _PREAMBLE.unpack_from(blob)
    if magic != MAGIC:
        raise SerializationError(f"load: {name!r} is not an autograd state file ({_guess(blob)}); "
                                 f"autograd.load never unpickles or runs file content")
    if version > VERSION:
        raise SerializationError(f"load: {name!r} has format version {version}; this autograd "
                                 f"reads version {VERSION} and older")
    start = _PREAMBLE.size
    if header_len > len(blob) - start:
        raise SerializationError(f"load: {name!r} is truncated (header of {header_len} bytes, "
                                 f"{len(blob) - start} left in the file)")
    header_bytes = blob[start:start + header_len]
    if hashlib.sha256(header_bytes).digest() != header_digest:
        raise SerializationError(f"load: {name!r} is corrupted or was modified (header checksum "
                                 f"mismatch)")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SerializationError(f"load: {name!r} has an unreadable header: {e}") from None
    payload = memoryview(blob)[start + header_len:]
    if not isinstance(header, dict) or header.get("format") != "autograd-state":
        raise SerializationError(f"load: {name!r} has a header of the wrong kind")
    if header.get("payload_size") != len(payload):
        raise SerializationError(f"load: {name!r} is truncated or has trailing data (payload "
                                 f"{len(payload)} bytes, header says {header.get('payload_size')})")
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise SerializationError(f"load: {name!r} is corrupted or was modified (payload checksum "
                                 f"mismatch)")
    return _decode(header.get("tree"), payload, name, 0)


def _guess(blob: bytes) -> str:
    if blob[:1] == b"\x80" or blob[:1] in (b"(", b"]", b"}"):
        return "it looks like a Python pickle"
    if blob[:2] == b"PK":
        return "it looks like a zip archive, e.g. a torch.save file"
    if blob[:6] == b"\x93NUMPY":
        return "it looks like a .npy file"
    return "unknown magic bytes"


def _decode(node, payload: memoryview, name: str, depth: int):
    def bad(why: str):
        return SerializationError(f"load: {name!r} has an invalid header: {why}")

    if depth > _MAX_DEPTH:
        raise bad(f"nesting deeper than {_MAX_DEPTH} levels")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise bad("a node is not an object with a type")
    kind = node["t"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        value = node.get("v")
        expected = {"bool": bool, "int": int, "str": str}[kind]
        if type(value) is not expected:
            raise bad(f"a {kind} node holds {type(value).__name__}")
        return value
    if kind == "float":
        try:
            return float.fromhex(node.get("v"))
        except (TypeError, ValueError):
            raise bad("a float node does not hold a hex float") from None
    if kind in ("list", "tuple"):
        items = node.get("items")
        if not isinstance(items, list):
            raise bad(f"a {kind} node has no items")
        values = [_decode(v, payload, name, depth + 1) for v in items]
        return values if kind == "list" else tuple(values)
    if kind == "dict":
        items = node.get("items")
        if not isinstance(items, list) or not all(isinstance(i, list) and len(i) == 2 for i in items):
            raise bad("a dict node has no [key, value] items")
        out = {}
        for k, v in items:
            key = _decode(k, payload, name, depth + 1)
            if not isinstance(key, (str, int)):
                raise bad(f"a dict key of type {type(key).__name__}")
            out[key] = _decode(v, payload, name, depth + 1)
        return out
    if kind in ("array", "tensor", "scalar"):
        return _array(node, payload, bad)
    raise bad(f"unknown node type {kind!r}")


def _array(node: dict, payload: memoryview, bad):
    dtype, shape = node.get("dtype"), node.get("shape")
    offset, nbytes = node.get("offset"), node.get("nbytes")
    if dtype not in _DTYPES:
        raise bad(f"unsupported dtype {dtype!r}")
    if (not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape)
            or type(offset) is not int or type(nbytes) is not int):
        raise bad("an array node has a malformed shape, offset or size")
    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if count * dt.itemsize != nbytes or offset < 0 or offset + nbytes > len(payload):
        raise bad(f"array {dtype} {tuple(shape)} at offset {offset} ({nbytes} bytes) does not "
                  f"fit a payload of {len(payload)} bytes")
    a = np.frombuffer(payload, dtype=dt, count=count, offset=offset).reshape(shape)
    a = a.astype(dt.newbyteorder("="))  # a native-order, writable copy
    if node["t"] == "tensor":
        return Tensor._make(a[()] if a.ndim == 0 else a)
    return a[()] if node["t"] == "scalar" else a
