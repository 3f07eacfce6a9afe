"""Trees: one directory's entries, stored as a ``tree`` blob (JSON).

A tree is ``{"nodes": [node, ...]}`` sorted by the raw bytes of the name.  A
node's name is ``name`` when it is valid UTF-8, otherwise ``name_b64`` holds
the raw bytes (Linux allows any bytes but ``/`` and NUL).  Symlink targets use
``target``/``target_b64`` the same way.  Trees are content-addressed like data,
so an unchanged directory costs nothing in a new snapshot.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

from sitesnap.errors import IntegrityError
from sitesnap.format.envelope import decode_json, encode_json

__all__ = ["Node", "decode_tree", "encode_tree", "name_to_bytes", "safe_name"]

NODE_TYPES = ("file", "dir", "symlink")


@dataclass(slots=True)
class Node:
    name: bytes
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    dev: int = 0
    nlink: int = 1
    size: int = 0
    content: list[bytes] = field(default_factory=list)
    subtree: bytes | None = None
    target: bytes = b""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "mode": self.mode}
        _put_bytes(out, "name", self.name)
        out.update(uid=self.uid, gid=self.gid, mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns)
        if self.user:
            out["user"] = self.user
        if self.group:
            out["group"] = self.group
        if self.inode:
            out.update(inode=self.inode, dev=self.dev, nlink=self.nlink)
        if self.type == "file":
            out["size"] = self.size
            out["content"] = [c.hex() for c in self.content]
        elif self.type == "dir":
            out["subtree"] = self.subtree.hex() if self.subtree else None
        elif self.type == "symlink":
            _put_bytes(out, "target", self.target)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        node_type = data["type"]
        if node_type not in NODE_TYPES:
            raise ValueError(f"unknown node type {node_type!r}")
        subtree = data.get("subtree")
        return cls(
            name=_get_bytes(data, "name"),
            type=node_type,
            mode=int(data.get("mode", 0)),
            uid=int(data.get("uid", 0)),
            gid=int(data.get("gid", 0)),
            user=str(data.get("user", "")),
            group=str(data.get("group", "")),
            mtime_ns=int(data.get("mtime_ns", 0)),
            ctime_ns=int(data.get("ctime_ns", 0)),
            inode=int(data.get("inode", 0)),
            dev=int(data.get("dev", 0)),
            nlink=int(data.get("nlink", 1)),
            size=int(data.get("size", 0)),
            content=[bytes.fromhex(c) for c in data.get("content", [])],
            subtree=bytes.fromhex(subtree) if subtree else None,
            target=_get_bytes(data, "target") if node_type == "symlink" else b"",
        )

    @property
    def display_name(self) -> str:
        return os.fsdecode(self.name)


def _put_bytes(out: dict[str, Any], key: str, raw: bytes) -> None:
    try:
        out[key] = raw.decode("utf-8")
    except UnicodeDecodeError:
        out[key + "_b64"] = base64.b64encode(raw).decode("ascii")


def _get_bytes(data: dict[str, Any], key: str) -> bytes:
    if key in data:
        return str(data[key]).encode("utf-8")
    if key + "_b64" in data:
        return base64.b64decode(data[key + "_b64"], validate=True)
    raise ValueError(f"node has no {key}")


def encode_tree(nodes: list[Node]) -> bytes:
    nodes.sort(key=lambda n: n.name)
    return encode_json({"nodes": [n.to_json() for n in nodes]})


def decode_tree(raw: bytes, what: str) -> list[Node]:
    data = decode_json(raw, what)
    try:
        nodes = [Node.from_json(n) for n in data["nodes"]]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise IntegrityError(f"{what}: malformed tree ({exc})") from None
    return nodes


def safe_name(name: bytes) -> bool:
    """True if ``name`` is one path segment that cannot escape its directory."""
    return bool(name) and name not in (b".", b"..") and b"/" not in name and b"\x00" not in name


def name_to_bytes(name: str) -> bytes:
    return os.fsencode(name)
