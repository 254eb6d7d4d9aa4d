#!/usr/bin/env python3
"""Passes when the headers compiled by the self-containment check (argv[2], comma-separated,
relative to include/weft, fixed when meson configured) are exactly the headers now in argv[1].
The compilation itself happened in the build: reaching this test means every TU compiled."""
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
checked = set(h for h in sys.argv[2].split(',') if h)
present = {str(p.relative_to(root)) for p in root.rglob('*.hpp')}
if checked != present:
    print('the header self-containment check is stale; reconfigure (meson setup --reconfigure)')
    print('  not checked: ' + ', '.join(sorted(present - checked)))
    print('  gone:        ' + ', '.join(sorted(checked - present)))
    sys.exit(1)
print(f'{len(checked)} public headers each compile on their own (-Werror)')
