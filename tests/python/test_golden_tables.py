"""Codec-1 table files through the module: tests/golden/tables/ok_* load with the id, hash, channels and b their
sidecars name; every other file there raises the exception of the error its sidecar names (docs/wire-format.md,
"Table files")."""
import os

import pytest

from conftest import GOLDEN, sidecar_entries

TABLES = sorted(os.path.join(GOLDEN, "tables", n) for n in os.listdir(os.path.join(GOLDEN, "tables"))
                if n.endswith(".safetensors"))


def table_sidecar(path):
    side = {}
    for key, rest in sidecar_entries(path[:-len(".safetensors")] + ".txt"):
        side[key] = rest if key == "bits" else rest[0]
    return side


def test_table_goldens_present():
    names = [os.path.basename(p) for p in TABLES]
    assert sum(n.startswith("ok_") for n in names) >= 2
    assert {n[:2] for n in names if not n.startswith("ok_")} == {"72", "74", "78", "80", "84"}


@pytest.mark.parametrize("path", TABLES, ids=os.path.basename)
def test_golden_table_files_load_or_raise(sc, path):
    side = table_sidecar(path)
    if "error" in side:
        cls = sc.exceptions_by_errc[int(side["errc"])]
        assert cls.name == side["error"]
        assert int(os.path.basename(path)[:2]) == cls.errc
        with pytest.raises(cls):
            sc.EntropyTables.load(path)
        return
    t = sc.EntropyTables.load(path)
    assert t.table_id == int(side["table_id"])
    assert t.hash == int(side["table_hash"], 0)
    assert t.channels == int(side["channels"])
    assert t.bits == [int(b) for b in side["bits"]]
