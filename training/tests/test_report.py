"""The accuracy table: major_map and per-class AP carried into the JSON and the Markdown, and codec-1 bytes read from
the fitting tool's output."""
import unittest

import _path  # noqa: F401
from slimtrain.report import add_coded_bytes, build_table, markdown, parse_fit_log

kFitLog = """bound rule: k 3, member_sigma 1
codec-1 payload / bit-packed payload (mean over images; codec 0 where not smaller)
   s  b   raw B   fit: coded B  ratio   held-out: coded B  ratio
   1  1    6912           6870  0.994                6875  0.995
   1  2   13824          10291  0.744               10256  0.742
   4  2   13824          11671  0.844               11613  0.840
wrote t.entropy.safetensors: table_id 2, hash 0x48FD787B, C 6, b 1..4
"""


def _row(s, b, m):
    return {"s": s, "b": b, "map": m, "ap50": m + 10, "tap_nmse": 0.5, "major_map": m + 1,
            "per_class": {0: m + 2, 10: 7.0}}


class ReportTest(unittest.TestCase):
    def table(self):
        rows = [_row(s, b, 10.0 * s + (b or 3)) for s in (1, 4) for b in (1, 2, None)]
        info = {"source": "test", "metric": "mAP@[.5:.95]", "scale": "cpu", "reference": "ref", "quantizer": {},
                "training": {"preset": "cpu"}}
        cal = {"teacher_fp32": 100.0, "teacher_half_resolution": 75.8, "teacher_half_resolution_major_map": 67.7,
               "teacher_half_resolution_per_class": {0: 85.4, 10: 50.0}, "objects_per_class": {0: 271, 10: 3}}
        return build_table(info, rows, None, cal, 6 * 64 * 64, 32.8)

    def test_major_map_and_classes_by_name(self):
        t = self.table()
        c = next(c for c in t["configurations"] if (c["s"], c["b"]) == (4, 2))
        self.assertEqual(c["major_map"], 43.0)
        self.assertEqual(c["per_class"], {"person": 44.0, "fire hydrant": 7.0})
        self.assertEqual(t["calibration"]["teacher_half_resolution_per_class"]["person"], 85.4)
        md = markdown(t, "title")
        self.assertIn("major_map (mean AP over the classes with at least 10 reference objects: person 271)", md)
        self.assertIn("| s=4 | 131.2 | 44.0 | 43.0 | 42.0 |", md)  # major_map: fp32 (map 43), 2 bit, 1 bit
        self.assertIn("major_map 67.7, person AP 85.4", md)

    def test_codec1_bytes_from_the_tool_output(self):
        ratios = parse_fit_log(kFitLog)
        self.assertEqual(ratios, {(1, 1): 0.995, (1, 2): 0.742, (4, 2): 0.840})
        t = add_coded_bytes(self.table(), ratios, "slimcodec-fit-entropy-tables ...")
        c = next(c for c in t["configurations"] if (c["s"], c["b"]) == (4, 2))
        self.assertEqual(c["codec1_bytes"], round(0.840 * 6144) + 52)
        self.assertNotIn("codec1_bytes", next(c for c in t["configurations"] if (c["s"], c["b"]) == (4, 1)))
        self.assertIn("| s=4 | 5,213 (0.840) |", markdown(t, "title"))


if __name__ == "__main__":
    unittest.main()
