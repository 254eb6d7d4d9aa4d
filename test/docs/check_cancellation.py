#!/usr/bin/env python3
"""Checks that every suspending public call documents its cancellation behaviour.

Reads Doxygen's XML output (scripts/docs generates it into OUT/xml) and treats a public function
as a suspending call when it takes a trailing `std::source_location where` parameter: weft's
convention for every call that can suspend (docs/conventions.md; it records where a task waits;
spawns take `loc`, not `where`). Its comment must contain a **Cancellation** paragraph
(docs/contributing.md): is it a cancellation point, is it cancel-safe, what is lost when it is interrupted.
Overloads share one paragraph: a name passes when any of its overloads has it. Prints
FILE:LINE: NAME for each one that lacks it and exits 1 if there is any.
"""
import pathlib
import sys
import xml.etree.ElementTree as ET


def text(node):
    return "".join(node.itertext()) if node is not None else ""


def main():
    xml_dir = pathlib.Path(sys.argv[1])
    checked, missing = 0, set()
    groups = {}  # qualified name -> [(has a Cancellation paragraph, location)], one per overload
    for f in sorted(xml_dir.glob("*.xml")):
        if f.name == "index.xml":
            continue
        for m in ET.parse(f).getroot().iter("memberdef"):
            if m.get("kind") != "function" or m.get("prot") != "public":
                continue
            params = [(text(p.find("type")), p.findtext("declname") or "")
                      for p in m.findall("param")]
            if not any("source_location" in t and d == "where" for t, d in params):
                continue
            doc = text(m.find("briefdescription")) + text(m.find("detaileddescription"))
            loc = m.find("location")
            groups.setdefault(m.findtext("qualifiedname"), []).append(
                ("Cancellation" in doc, f"include/{loc.get('file')}:{loc.get('line')}"))
    for name, overloads in groups.items():
        checked += len(overloads)
        # Overloads are documented side by side, so forwarding overloads ("start(h, options)
        # with only the address set") may rely on the paragraph of one of them.
        if any(has for has, _ in overloads):
            continue
        for _, where in overloads:
            missing.add(f"{where}: warning: {name}: a suspending call (it takes "
                        "`std::source_location where`) without a **Cancellation** paragraph")
    for line in sorted(missing):
        print(line)
    print(f"{checked} suspending call(s) checked; {len(missing)} without a **Cancellation** "
          "paragraph",
          file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
