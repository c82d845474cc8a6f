#!/usr/bin/env python3
"""Checks the rooms of include/slimcodec/ (README "Layout"): the wire core includes only itself, the network code
only the core, and the device and server sides the core and the network but never each other; nothing in
include/ reaches into tools/; inside include/ the library's own headers are included quoted. Exit 1 with every
offending line listed."""
import pathlib
import re
import sys

ROOMS = {
    "core": {"common", "wire", "quant", "entropy", "codec.hpp", "slimcodec.hpp"},
    "mqtt": {"mqtt"},
    "network": {"layers", "kernels", "model", "weights", "io"},
    "device": {"device", "device.hpp"},
    "server": {"server", "server.hpp"},
}
MAY_INCLUDE = {
    "core": {"core"},
    "mqtt": {"core", "mqtt"},
    "network": {"core", "network"},
    "device": {"core", "network", "mqtt", "device"},
    "server": {"core", "network", "mqtt", "server"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def room_of(top):
    for room, members in ROOMS.items():
        if top in members:
            return room
    return None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "include" / "slimcodec"
    problems, checked = [], 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".hpp", ".h"):
            continue
        rel = path.relative_to(root)
        room = room_of(rel.parts[0])
        if room is None:
            problems.append(f"{rel}: in no room (add its folder to tests/layering/check_layering.py and README)")
            continue
        checked += 1
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            if target.startswith("emulation/") or target.startswith("tools/"):
                problems.append(f"{rel}:{n}: includes {target}: tools are not library")
            if not target.startswith("slimcodec/"):
                continue
            if '"' not in line:  # one style: the library's own headers quoted inside include/, <...> outside it
                problems.append(f"{rel}:{n}: includes <{target}>: write \"{target}\" inside include/")
            parts = pathlib.PurePosixPath(target).parts
            other = room_of(parts[1]) if len(parts) > 1 else None
            if other is None:
                problems.append(f"{rel}:{n}: includes {target}, which is in no room")
            elif other not in MAY_INCLUDE[room]:
                problems.append(f"{rel}:{n}: the {room} side includes {target} ({other})")
    for p in problems:
        print(p)
    print(f"check_layering: {checked} headers, {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
