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


class ExtraTrainingImages(unittest.TestCase):
    """add_training_images appends to a prepared folder's training split only: earlier entries, their files and the
    held-out split stay as they were, and a second call is refused rather than adding the images twice."""

    def test_appends_to_train_only(self):
        from PIL import Image
        with tempfile.TemporaryDirectory() as d:
            src_dir = os.path.join(d, "photos")
            os.makedirs(src_dir)
            for i in range(6):
                Image.fromarray(np.full((16, 24, 3), 40 * i, np.uint8)).save(os.path.join(src_dir, f"p{i}.png"))
            out = os.path.join(d, "data")
            before = data.prepare_dataset(out, folders=[src_dir], use_debian=False, heldout_fraction=0.5,
                                          log=lambda *a: None)
            files = {f: open(os.path.join(out, split, f), "rb").read() for split in ("train", "heldout")
                     for f in os.listdir(os.path.join(out, split))}
            os.makedirs(os.path.join(d, "pkg"))
            Image.fromarray(np.full((20, 30, 3), 7, np.uint8)).save(os.path.join(d, "pkg", "new.png"))
            fetcher = lambda s, cache: (os.path.join(d, "pkg"), "2.0")  # noqa: E731
            src = wide.Source("deb", "more-photos", ("new.png",))
            m = wide.add_training_images(out, os.path.join(d, "cache"), sources=(src,), fetcher=fetcher,
                                         log=lambda *a: None)
            self.assertEqual(m["heldout"], before["heldout"])
            self.assertEqual(m["train"][:-1], before["train"])
            self.assertEqual(m["train"][-1]["source"], "deb:more-photos:new.png")
            self.assertEqual(m["extra_packages"], {"more-photos": {"kind": "deb", "version": "2.0"}})
            for f, blob in files.items():  # earlier images untouched
                split = "train" if any(e["file"] == f for e in before["train"]) else "heldout"
                self.assertEqual(open(os.path.join(out, split, f), "rb").read(), blob)
            self.assertEqual(len(data.load_split(out, "train")), len(before["train"]) + 1)
            with self.assertRaisesRegex(ValueError, "already has extra training images"):
                wide.add_training_images(out, d, sources=(src,), fetcher=fetcher, log=lambda *a: None)


if __name__ == "__main__":
    unittest.main()
