"""prepare-data names the Debian packages whose files are missing, since without them the data set and its
train/held-out split differ from the published runs'; the wider held-out set (prepare-data --wide)."""
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

import _path  # noqa: F401
from slimtrain import data, wide


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


class WideHeldout(unittest.TestCase):
    """prepare_wide: every image held out, stills and evenly spread video frames, each entry naming its package and
    version; a listed file a package lacks is an error, not a smaller set."""

    def _tree(self, d):
        import av
        from PIL import Image
        os.makedirs(os.path.join(d, "pkg", "img"))
        Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(os.path.join(d, "pkg", "img", "a.png"))
        with av.open(os.path.join(d, "pkg", "clip.mp4"), "w") as c:
            st = c.add_stream("mpeg4", rate=10)
            st.width, st.height, st.pix_fmt = 32, 32, "yuv420p"
            for i in range(40):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 6 * i, np.uint8), format="rgb24")
                for packet in st.encode(frame):
                    c.mux(packet)
            for packet in st.encode():
                c.mux(packet)

    def test_writes_every_image_as_heldout_with_its_source(self):
        with tempfile.TemporaryDirectory() as d:
            self._tree(d)
            src = wide.Source("npm", "demo@1.0.0", ("img/a.png",), ("clip.mp4",))
            fetcher = lambda s, cache: (os.path.join(d, "pkg"), "1.0.0")  # noqa: E731
            m = wide.prepare_wide(os.path.join(d, "out"), os.path.join(d, "cache"), frames_per_video=4,
                                  sources=(src,), fetcher=fetcher, log=lambda *a: None)
            self.assertEqual(m["train"], [])
            self.assertEqual(m["packages"], {"demo@1.0.0": {"kind": "npm", "version": "1.0.0"}})
            self.assertEqual([e["source"] for e in m["heldout"]][0], "npm:demo@1.0.0:img/a.png")
            frames = [int(e["source"].rsplit("=", 1)[1]) for e in m["heldout"][1:]]
            self.assertEqual(frames, [4, 14, 25, 35])  # 4 frames over 40, the first and last tenth left out
            self.assertEqual({wide.source_of(e) for e in m["heldout"]}, {"demo@1.0.0"})
            for e in m["heldout"]:
                self.assertTrue(os.path.exists(os.path.join(d, "out", "heldout", e["file"])))
            # The folder loads like the default one: no training images, five held-out ones.
            self.assertEqual(len(data.load_split(os.path.join(d, "out"), "heldout")), 5)
            self.assertEqual(data.load_split(os.path.join(d, "out"), "train"), [])
            missing = wide.Source("deb", "demo", ("img/gone.png",))
            with self.assertRaisesRegex(FileNotFoundError, "deb package demo 1.0.0 has no img/gone.png"):
                wide.prepare_wide(os.path.join(d, "out2"), d, sources=(missing,), fetcher=fetcher, log=lambda *a: None)


if __name__ == "__main__":
    unittest.main()
