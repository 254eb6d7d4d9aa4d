#!/usr/bin/env python3
"""Checks that the code quoted in the docs matches the compiled samples.

A fenced code block in README.md or docs/guide/*.md that quotes a sample is preceded by a marker
line naming the source file (relative to the repository root) and the region:

    <!-- snippet: samples/guide/timeouts.cpp#abort -->
    ```cpp
    ...
    ```

The region is the text between `// [snippet:NAME]` (or `// [NAME]`) and the next `// [end]`
(or `// [end:NAME]`, `// [/NAME]`, or a second `// [NAME]`, Doxygen's \snippet style) in that
file, with its common indentation removed; marker lines of other regions nested inside are left
out. The block must equal it exactly.

A ```cpp block without a marker is an error unless it is preceded by
`<!-- not-quoted: REASON -->` (declaration sketches, tables of signatures), so no compilable
example silently escapes the check. Exit status 1 lists every mismatch as FILE:LINE: TEXT.

With --fix (check_snippets.py ROOT --fix), a quoted block that differs from its region is
rewritten from the region instead (scripts/format runs this after formatting the samples);
the other problems are still reported.
"""
import difflib
import pathlib
import re
import sys

MARK = re.compile(r"^\s*<!--\s*snippet:\s*(\S+?)#(\S+)\s*-->\s*$")
UNQUOTED = re.compile(r"^\s*<!--\s*not-quoted:.*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
REGION_START = re.compile(r"^\s*//\s*\[(?:snippet:)?([\w.-]+)\]\s*$")
REGION_END = re.compile(r"^\s*//\s*\[(?:end(?::[\w.-]+)?|/[\w.-]+)\]\s*$")


def regions(path):
    """name -> list of lines for every region in a source file."""
    found, open_ = {}, []
    for line in path.read_text().splitlines():
        if REGION_END.match(line):
            if open_:
                name = open_.pop()
                found[name] = found.get(name, [])
            continue
        m = REGION_START.match(line)
        if m and m.group(1) in open_:  # Doxygen's style: the same marker closes the region
            open_.remove(m.group(1))
            continue
        if m and m.group(1) != "end":
            open_.append(m.group(1))
            found.setdefault(m.group(1), [])
            continue
        for name in open_:
            found[name].append(line)
    out = {}
    for name, lines in found.items():
        indents = [len(l) - len(l.lstrip()) for l in lines if l.strip()]
        cut = min(indents) if indents else 0
        out[name] = [l[cut:].rstrip() for l in lines]
    return out


def blocks(md):
    """(line number of the opening fence, language, marker line or None, body lines)."""
    lines = md.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3)
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = lines[j] if j >= 0 else ""
        yield start + 1, lang, marker, [l.rstrip() for l in body], indent
        i += 1


def main():
    args = [a for a in sys.argv[1:] if a != "--fix"]
    fix = "--fix" in sys.argv[1:]
    root = pathlib.Path(args[0] if args else ".").resolve()
    pages = [root / "README.md"] + sorted((root / "docs" / "guide").glob("*.md"))
    errors, quoted = [], 0
    cache = {}
    for page in pages:
        if not page.exists():
            errors.append(f"{page.relative_to(root)}: missing")
            continue
        rel = page.relative_to(root)
        fixes = []  # (index of the first body line, old body length, new body lines)
        for line, lang, marker, body, indent in blocks(page):
            m = MARK.match(marker)
            if not m:
                if lang in ("cpp", "c++") and not UNQUOTED.match(marker):
                    errors.append(f"{rel}:{line}: a cpp block without a "
                                  "<!-- snippet: FILE#NAME --> or <!-- not-quoted: ... --> marker")
                continue
            src, name = root / m.group(1), m.group(2)
            if not src.exists():
                errors.append(f"{rel}:{line}: {m.group(1)} does not exist")
                continue
            if src not in cache:
                cache[src] = regions(src)
            region = cache[src].get(name)
            if region is None:
                errors.append(f"{rel}:{line}: no region [{name}] in {m.group(1)}")
                continue
            quoted += 1
            if region != body and fix:
                fixes.append((line, len(body), [indent + l if l else "" for l in region]))
            elif region != body:
                diff = "\n".join(difflib.unified_diff(region, body, f"{m.group(1)}#{name}",
                                                      f"{rel}:{line}", lineterm=""))
                errors.append(f"{rel}:{line}: differs from {m.group(1)}#{name}:\n{diff}")
        if fixes:
            text = page.read_text()
            lines = text.splitlines()
            for first, old, new in reversed(fixes):  # from the end: earlier indices stay valid
                lines[first:first + old] = new
            page.write_text("\n".join(lines) + ("\n" if text.endswith("\n") else ""))
            print(f"{rel}: rewrote {len(fixes)} block(s) from their samples")
    for e in errors:
        print(e)
    print(f"{quoted} quoted block(s) checked in {len(pages)} page(s); {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
