"""Extract the facts the SVD oracle checks from ST's STM32C071.svd into a committed table.

The SVD (``../shared/svd/STM32C071.svd``) is not part of the repository, so the oracle
(tests/test_svd_oracle.py) checks the models against ``tests/svd_c071.json``, a table of
facts only: for every peripheral of the SVD its base address, and for every register
its offset, reset value, reset mask and field positions (lsb, width).  Derived
peripherals (I2C2 from I2C1) are resolved; register names lose their peripheral prefix.

Regenerate after an SVD update:
    python tests/svd_extract.py [path/to/STM32C071.svd]
A test (run when the SVD is present) fails when the committed table differs from a
fresh extraction.
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

def _find_svd() -> Path:
    """``../shared/svd`` next to the clone, or next to an enclosing folder (a worktree under /work/wt)."""
    here = Path(__file__).resolve().parent
    for folder in here.parents[1:]:
        candidate = folder / "shared" / "svd" / "STM32C071.svd"
        if candidate.exists():
            return candidate
    return here.parents[1] / "shared" / "svd" / "STM32C071.svd"


SVD_PATH = _find_svd()
TABLE_PATH = Path(__file__).resolve().parent / "svd_c071.json"


def _int(text: str) -> int:
    return int(text.strip(), 0)


def _props(node: ET.Element, inherited: dict[str, int]) -> dict[str, int]:
    props = dict(inherited)
    for key in ("resetValue", "resetMask", "size"):
        text = node.findtext(key)
        if text is not None:
            props[key] = _int(text)
    return props


def _strip_prefix(register: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if prefix and register.startswith(prefix + "_"):
            return register[len(prefix) + 1:]
    return register


def _fields(register: ET.Element) -> dict[str, list[int]]:
    out = {}
    for f in register.iter("field"):
        lsb, width = f.findtext("bitOffset"), f.findtext("bitWidth")
        if lsb is None:                                   # bitRange "[msb:lsb]" form
            msb_text, lsb_text = f.findtext("bitRange").strip("[]").split(":")
            lsb, width = lsb_text, str(_int(msb_text) - _int(lsb_text) + 1)
        out[f.findtext("name")] = [_int(lsb), _int(width)]
    return dict(sorted(out.items(), key=lambda item: (item[1][0], item[0])))


def extract(path: Path) -> dict:
    """{peripheral: {"base": int, "registers": {name: {"offset", "reset", "mask", "fields"}}}}."""
    root = ET.parse(path).getroot()
    device = _props(root, {"resetValue": 0, "resetMask": 0xFFFF_FFFF, "size": 32})
    nodes = {p.findtext("name"): p for p in root.iter("peripheral")}

    def registers_of(node: ET.Element, names: tuple[str, ...]) -> dict[str, dict]:
        props = _props(node, device)
        block = node.find("registers")
        if block is None:
            parent = node.get("derivedFrom")
            return registers_of(nodes[parent], names + (parent,)) if parent else {}
        out = {}
        for r in block.iter("register"):
            rp = _props(r, props)
            name = _strip_prefix(r.findtext("name"), names)
            out[name] = {"offset": _int(r.findtext("addressOffset")), "reset": rp["resetValue"],
                         "mask": rp["resetMask"], "fields": _fields(r)}
        return out

    table = {}
    for name, node in sorted(nodes.items()):
        related = (name,) + ((node.get("derivedFrom"),) if node.get("derivedFrom") else ())
        prefixes = related + tuple(n.rstrip("0123456789") for n in related)   # "I2C_CR1" in I2C2
        table[name] = {"base": _int(node.findtext("baseAddress")),
                       "registers": dict(sorted(registers_of(node, prefixes).items(),
                                                key=lambda item: (item[1]["offset"], item[0])))}
    return table


def render(table: dict) -> str:
    """Deterministic JSON, one register per line, so a diff of the table reads like the change."""
    lines = ["{"]
    for i, (periph, p) in enumerate(table.items()):
        lines.append(f'  {json.dumps(periph)}: {{"base": {p["base"]}, "registers": {{')
        regs = list(p["registers"].items())
        for j, (name, r) in enumerate(regs):
            comma = "," if j < len(regs) - 1 else ""
            lines.append(f"    {json.dumps(name)}: {json.dumps(r, separators=(',', ':'))}{comma}")
        lines.append("  }}" + ("," if i < len(table) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def load(path: Path = TABLE_PATH) -> dict:
    return json.loads(path.read_text())


def main(argv: list[str]) -> int:
    svd = Path(argv[1]) if len(argv) > 1 else SVD_PATH
    if not svd.exists():
        print(f"svd_extract: {svd} not found", file=sys.stderr)
        return 1
    TABLE_PATH.write_text(render(extract(svd)))
    print(f"wrote {TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
