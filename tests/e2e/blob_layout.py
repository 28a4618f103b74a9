"""The embedded blob store's layout on disk (crates/store/FORMAT.md), for tests that count or
damage stored blocks: large blobs live in slots of segment files named `=NNNNNNNN`, each slot
a 16-byte header (`kmsnapP1`, the length as u32 LE, 4 zero bytes) and the blob; other blobs are
files of their own."""

import os
from collections import namedtuple
from pathlib import Path

SLOT = 129 * 4096
HEADER = 16
MAGIC = b"kmsnapP1"

Stored = namedtuple("Stored", "path offset length name")


def stored_blobs(root):
    """Every object under the blob directory `root`, in key order: (file, offset of the blob in
    it, length, last part of its key — `=NNNNNNNN/SSSS` for a slot, the file name otherwise).
    A running server's blob collector may delete a file (or an emptied segment) while this
    walks: what is gone by the time it is read is not counted."""
    out = []
    root = Path(root)
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        try:
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.name.startswith("=") and p.name[1:].isdigit():
                with open(p, "rb") as f:
                    for slot in range(os.fstat(f.fileno()).st_size // SLOT):
                        f.seek(slot * SLOT)
                        head = f.read(HEADER)
                        if head[:8] == MAGIC:
                            out.append(Stored(p, slot * SLOT + HEADER, int.from_bytes(head[8:12], "little"),
                                              f"{p.name}/{slot:04}"))
            else:
                out.append(Stored(p, 0, p.stat().st_size, p.name))
        except FileNotFoundError:
            continue
    return out


def flip_byte(blob, at):
    """Flips the low bit of byte `at` of a stored blob; flipping it again restores it."""
    with open(blob.path, "r+b") as f:
        f.seek(blob.offset + at)
        b = f.read(1)[0]
        f.seek(blob.offset + at)
        f.write(bytes([b ^ 0x01]))
