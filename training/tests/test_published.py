"""What the pipeline committed is consistent: the C++ fixture was made from the committed weights, the weights
carry their provenance, and every measured accuracy table has the controller's shape (s, b, accuracy)."""
import glob
import hashlib
import json
import os
import unittest

import _path  # noqa: F401
from slimtrain import paths
from slimcodec_ref import load_safetensors

kFixture = os.path.join(paths.kRepoRoot, "tests", "training", "data", "e2e_reference.safetensors")


class PublishedTest(unittest.TestCase):
    def test_fixture_matches_the_committed_weights(self):
        tensors, meta = load_safetensors(kFixture)
        weights = os.path.join(paths.kRepoRoot, meta["weights"])
        with open(weights, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), meta["weights_sha256"],
                             "weights changed: run `training/train.py publish` (or run --publish) again")
        self.assertTrue(os.path.exists(os.path.join(paths.kRepoRoot, meta["photo"])))
        self.assertIn("latent_s4", tensors)

    def test_weights_carry_their_provenance(self):
        # *.entropy.safetensors beside the weights are codec-1 frequency tables (docs/entropy.md), not models.
        files = [p for p in glob.glob(os.path.join(paths.kWeightsDir, "*.safetensors"))
                 if not p.endswith(".entropy.safetensors")]
        self.assertTrue(files)
        for path in files:
            tensors, meta = load_safetensors(path)
            with self.subTest(weights=os.path.basename(path)):
                for key in ("teacher", "tap", "student_input", "preset", "bound_rule", "bound_k", "member_sigma"):
                    self.assertIn(key, meta)
                self.assertEqual(len([k for k in tensors if k.startswith("encoder.")]), 4 * 53)  # 53 tensors per member

    def test_accuracy_tables_have_the_controller_shape(self):
        tables = [p for p in glob.glob(os.path.join(paths.kDocsDir, "accuracy-*.json"))
                  if not p.endswith("accuracy-paper.json")]
        self.assertTrue(tables)
        for path in tables:
            with open(path) as f:
                t = json.load(f)
            with self.subTest(table=os.path.basename(path)):
                self.assertEqual(t["metric"], "mAP@[.5:.95]")
                pairs = {(c["s"], c["b"]) for c in t["configurations"]}
                self.assertEqual(pairs, {(s, b) for s in range(1, 5) for b in range(1, 5)})
                one_bit = next(c["payload_bytes"] for c in t["configurations"] if c["b"] == 1)
                for c in t["configurations"]:
                    self.assertTrue(0.0 <= c["accuracy"] <= 100.0)
                    self.assertEqual(c["payload_bytes"], one_bit * c["b"])  # 6 x h x w values, b bits each
                    self.assertEqual(c["bytes"], c["payload_bytes"] + 52)
                if "ablation_no_noise" in t:  # trained in a later sitting than the main run, when it was
                    self.assertEqual({(c["s"], c["b"]) for c in t["ablation_no_noise"]["configurations"]}, pairs)
                for c in t["configurations"]:
                    if "major_map" in c:
                        self.assertTrue(0.0 <= c["major_map"] <= 100.0)
                self.assertIn("scale", t)


if __name__ == "__main__":
    unittest.main()
