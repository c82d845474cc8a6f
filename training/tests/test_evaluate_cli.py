"""`training/train.py evaluate` on a prepared folder (skipped unless scripts/fetch-teacher has run): --split train
scores the training images, --out writes rows, calibration and reference objects per source that add up, and a
split with no images is a clear error."""
import json
import os
import tempfile
import unittest

import numpy as np

import _path  # noqa: F401
from slimtrain import cli, data, paths

kModel = os.path.join(paths.kTeacherDir, "centernet.json")
kWeights = os.path.join(paths.kWeightsDir, "slimcodec-centernet-256-cpu.safetensors")


@unittest.skipIf(not os.path.exists(kModel), f"{kModel} missing: run scripts/fetch-teacher")
class EvaluateCommandTest(unittest.TestCase):
    def test_train_split_and_json(self):
        skimage = data.kDebianStills["python3-skimage"][0]
        photos = [os.path.join(skimage, f) for f in ("astronaut.png", "chelsea.png", "coffee.png")]
        if not all(os.path.exists(p) for p in photos):
            self.skipTest("python3-skimage's photos missing")
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "photos")
            os.makedirs(src)
            for p in photos:
                os.symlink(p, os.path.join(src, os.path.basename(p)))
            folder = os.path.join(d, "data")
            data.prepare_dataset(folder, folders=[src], use_debian=False, heldout_fraction=0.0, log=lambda *a: None)
            out = os.path.join(d, "eval.json")
            argv = ["evaluate", "--weights", kWeights, "--data", folder, "--split", "train", "--points", "4,4;1,fp32",
                    "--out", out, "--device", "cpu"]
            self.assertEqual(cli.main(argv), 0)
            with open(out) as f:
                r = json.load(f)
            self.assertEqual((r["split"], r["images"]), ("train", 3))
            self.assertEqual([(row["s"], row["b"]) for row in r["rows"]], [(4, 4), (1, None)])
            self.assertEqual(sum(n for c in r["objects_per_source"].values() for n in c["objects"].values()),
                             r["reference_objects"])
            self.assertGreater(r["reference_objects"], 0)
            for row in r["rows"]:
                self.assertTrue(0.0 <= row["map"] <= 100.0)
                self.assertTrue(all(isinstance(k, str) for k in row["per_class"]))  # class names, not numbers
            self.assertIn("--split train", r["command"])
            # Every image went to training: the held-out split is empty, and says so.
            self.assertEqual(cli.main(["evaluate", "--weights", kWeights, "--data", folder, "--device", "cpu"]), 2)


if __name__ == "__main__":
    unittest.main()
