#!/usr/bin/env python3
"""libweft calls its own functions directly, not through its PLT.

The library links with -Bsymbolic-functions and compiles with -fno-semantic-interposition
(docs/notes/build.md, "Calls inside libweft"): a call from one of its functions to another
binds inside the library, so the hot paths (yield, wake, channel and mutex hand-offs) pay no
PLT stub and may inline across what interposition kept apart. Without the flags every such
call goes through a relocation slot of the library's own: 551 slots named functions the
library defines when the flags were added. This fails, naming a few, if any slot names a
function the library defines itself.

Usage: own_calls_test.py LIBRARY
"""
import subprocess
import sys


def lines(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: own_calls_test.py LIBRARY")
    lib = sys.argv[1]
    defined = set()
    for line in lines("--dyn-syms", lib):
        f = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND":
            defined.add(f[7].split("@")[0])
    if not defined:
        sys.exit(f"own_calls_test: no defined functions read from {lib}")
    slots = set()
    for line in lines("-r", lib):
        f = line.split()
        if len(f) >= 5 and ("JUMP_SLOT" in f[2] or "GLOB_DAT" in f[2]):
            slots.add(f[4].split("@")[0])
    own = sorted(defined & slots)
    if own:
        print(f"{lib}: {len(own)} relocation slots name functions the library defines; "
              "its own calls go through the PLT (is -Bsymbolic-functions missing?). First:")
        for name in own[:10]:
            print("  " + name)
        sys.exit(1)
    print(f"{lib}: {len(defined)} functions defined, none called through a slot of its own")


if __name__ == "__main__":
    main()
