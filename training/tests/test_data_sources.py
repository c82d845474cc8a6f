"""prepare-data names the Debian packages whose files are missing, since without them the data set and its
train/held-out split differ from the published runs'."""
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

import _path  # noqa: F401
from slimtrain import data


class MissingPackages(unittest.TestCase):
    def test_names_packages_without_any_file_and_warns(self):
        with tempfile.TemporaryDirectory() as d:
            from PIL import Image
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(d, "a.png"))
            stills = {"present": (d, ("a.png", "gone.png")), "absent": (os.path.join(d, "nope"), ("b.png",))}
            with mock.patch.object(data, "kDebianStills", stills), mock.patch.object(data, "kDebianVideos", {}):
                self.assertEqual(data.missing_debian_packages(), ["absent"])
                lines = []
                manifest = data.prepare_dataset(os.path.join(d, "out"), log=lines.append)
        self.assertEqual(len(manifest["train"]) + len(manifest["heldout"]), 1)
        self.assertTrue(any("not installed: absent" in line for line in lines), lines)


if __name__ == "__main__":
    unittest.main()
