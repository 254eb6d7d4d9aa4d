#!/usr/bin/env python3
"""Writes the data set of scripts/bench --files, once: it is left in place and reused while its
stamp (DIR/.complete) matches the sizes asked for.

Usage: files_dataset.py DIR SMALL_COUNT BIG_MIB

  DIR/small/<i>  for i < SMALL_COUNT: 4,096 bytes, the u64 i (little-endian) then 4,088 bytes
                 of (i & 0xff)
  DIR/big        BIG_MIB MiB of little-endian u64 words, each holding its own byte offset

Every program checks what it read against this pattern (bench/support/files.hpp, the Tokio
peer), so a row that read the wrong bytes fails instead of printing a number. The pattern is
computed, not random, so the data set is written at memory speed (no /dev/urandom) and any
block can be checked without keeping a copy.
"""
import array
import os
import shutil
import sys

BLOCK = 4096
MIB = 1 << 20
FORMAT = 1


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: files_dataset.py DIR SMALL_COUNT BIG_MIB")
    root, small_count, big_mib = argv[1], int(argv[2]), int(argv[3])
    if small_count <= 0 or big_mib <= 0:
        sys.exit("files_dataset.py: SMALL_COUNT and BIG_MIB must be positive")
    stamp = os.path.join(root, ".complete")
    want = f"format={FORMAT} small={small_count} big_mib={big_mib}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        print(f"data set in {root}: up to date ({want.strip()})", file=sys.stderr)
        return
    os.makedirs(os.path.join(root, "small"), exist_ok=True)
    if os.path.exists(stamp):
        os.remove(stamp)

    # The small files take a block each, plus their inodes; keep 1 GiB spare for everyone else.
    need = big_mib * MIB + small_count * 2 * BLOCK + (1 << 30)
    old = os.path.getsize(os.path.join(root, "big")) if os.path.exists(os.path.join(root, "big")) else 0
    free = shutil.disk_usage(root).free + old
    if free < need:
        sys.exit(f"files_dataset.py: {root} has {free / MIB:,.0f} MiB free, the data set needs "
                 f"{need / MIB:,.0f} MiB (with 1 GiB to spare); set WEFT_FILES_DIR elsewhere or "
                 "shrink it (WEFT_FILES_BIG_MIB, WEFT_FILES_SMALL_COUNT)")

    print(f"== writing the data set into {root}: {small_count:,} files of 4 KiB and a "
          f"{big_mib:,} MiB file", file=sys.stderr)
    for i in range(small_count):
        with open(os.path.join(root, "small", str(i)), "wb") as f:
            f.write(i.to_bytes(8, "little") + bytes([i & 0xFF]) * (BLOCK - 8))

    tmp = os.path.join(root, "big.tmp")
    with open(tmp, "wb") as f:
        for m in range(big_mib):
            base = m * MIB
            words = array.array("Q", range(base, base + MIB, 8))
            if sys.byteorder != "little":
                words.byteswap()
            f.write(words.tobytes())
    os.replace(tmp, os.path.join(root, "big"))
    # Written last: an interrupted run leaves no stamp, and the next one starts over.
    with open(stamp, "w") as f:
        f.write(want)


if __name__ == "__main__":
    main(sys.argv)
