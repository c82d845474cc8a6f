"""Unlabeled training images: real photos that Debian packages ship, or any folder, with a held-out split.

Distillation needs no labels, so any photo works. prepare_dataset() copies the chosen photos and video frames
into one folder (JPEG, long side <= max_side) with manifest.json saying where each came from and which split it
is in; that folder is all a training machine needs. Splits are by source: a still goes to held-out by a hash of
its name, a video gives its first 60 % of frames to training and its last 30 % to held-out (the gap keeps
near-duplicate frames apart).
"""
import hashlib
import json
import os
import shutil
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

_SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
_DARKNET = "/usr/share/darknet/data"
_OPENCV = "/usr/share/doc/opencv-doc/examples/data"

# Photos (not drawings, charts or text) in each package, by file name.
kDebianStills: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "python3-skimage": (_SKIMAGE, ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png",
                                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                                   "grass.png", "gravel.png", "brick.png")),
    "darknet": (_DARKNET, ("dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg",
                           "scream.jpg")),
    "opencv-doc": (_OPENCV, ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg",
                             "basketball1.png", "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg",
                             "ela_original.jpg", "fruits.jpg", "graf1.png", "graf3.png", "HappyFish.jpg", "home.jpg",
                             "left.jpg", "right.jpg", "left01.jpg", "left05.jpg", "left09.jpg", "left13.jpg",
                             "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg",
                             "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "starry_night.jpg",
                             "stuff.jpg", "Blender_Suzanne1.jpg")),
}
kDebianVideos: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "opencv-doc": (_OPENCV, ("vtest.avi", "Megamind.avi", "tree.avi")),
}
kImageExtensions = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")
kVideoTrain, kVideoHeldoutFrom = 0.6, 0.7  # fractions of a video's length


def load_rgb(path: str) -> np.ndarray:
    """H x W x 3 uint8 RGB (grey and alpha images converted)."""
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def _heldout_still(name: str, fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return (h % 10000) < fraction * 10000


def missing_debian_packages() -> List[str]:
    """The packages of kDebianStills / kDebianVideos none of whose files are installed."""
    missing = []
    for table in (kDebianStills, kDebianVideos):
        for pkg, (d, files) in table.items():
            if not any(os.path.exists(os.path.join(d, f)) for f in files) and pkg not in missing:
                missing.append(pkg)
    return missing


def debian_sources() -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """(stills, videos) as (package, path) lists, only the files that are installed."""
    stills = [(pkg, os.path.join(d, f)) for pkg, (d, files) in kDebianStills.items() for f in files
              if os.path.exists(os.path.join(d, f))]
    videos = [(pkg, os.path.join(d, f)) for pkg, (d, files) in kDebianVideos.items() for f in files
              if os.path.exists(os.path.join(d, f))]
    return stills, videos


def folder_images(folder: str) -> List[str]:
    out = []
    for root, _, files in os.walk(folder):
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(kImageExtensions)]
    return sorted(out)


def video_frames(path: str, every: int) -> List[Tuple[int, int, np.ndarray]]:
    """(index, count, RGB frame) for every `every`-th frame (PyAV, Debian python3-av)."""
    import av
    with av.open(path) as c:
        stream = c.streams.video[0]
        frames = [(i, f.to_ndarray(format="rgb24")) for i, f in enumerate(c.decode(stream)) if i % every == 0]
    n = (frames[-1][0] + 1) if frames else 0
    return [(i, n, f) for i, f in frames]


def _shrink(img: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))


def write_image(out_dir: str, split: str, entries: List[dict], img: np.ndarray, name: str, source: str,
                max_side: int) -> None:
    """One prepared image: out_dir/split/NNNNN_name.jpg (long side <= max_side), its entry appended to entries."""
    from PIL import Image
    fname = f"{len(entries):05d}_{name}.jpg"
    Image.fromarray(_shrink(img, max_side)).save(os.path.join(out_dir, split, fname), quality=92)
    entries.append({"file": fname, "source": source})


def prepare_dataset(out_dir: str, folders: Sequence[str] = (), use_debian: bool = True, max_side: int = 640,
                    video_every: int = 8, heldout_fraction: float = 0.2, log=print) -> dict:
    """Writes out_dir/{train,heldout}/*.jpg and out_dir/manifest.json; returns the manifest."""
    for split in ("train", "heldout"):
        shutil.rmtree(os.path.join(out_dir, split), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, split))
    manifest = {"max_side": max_side, "video_every": video_every, "heldout_fraction": heldout_fraction,
                "train": [], "heldout": []}

    def put(img: np.ndarray, split: str, name: str, source: str):
        write_image(out_dir, split, manifest[split], img, name, source, max_side)

    stills: List[Tuple[str, str]] = []
    videos: List[Tuple[str, str]] = []
    if use_debian:
        stills, videos = debian_sources()
        missing = missing_debian_packages()
        if missing:  # the published runs' split (docs/training.md) has every package's files
            log(f"prepare-data: not installed: {' '.join(missing)}; the data set, and its train/held-out split, "
                f"differ from the published runs' (scripts/deps train installs them)")
    for folder in folders:
        stills += [("folder", p) for p in folder_images(folder)]
    for pkg, path in stills:
        base = os.path.splitext(os.path.basename(path))[0]
        split = "heldout" if _heldout_still(f"{pkg}/{os.path.basename(path)}", heldout_fraction) else "train"
        put(load_rgb(path), split, base, f"{pkg}:{path}")
    for pkg, path in videos:
        base = os.path.splitext(os.path.basename(path))[0]
        for i, n, frame in video_frames(path, video_every):
            pos = i / max(1, n)
            split = "train" if pos < kVideoTrain else "heldout" if pos >= kVideoHeldoutFrom else None
            if split:
                put(frame, split, f"{base}_f{i:04d}", f"{pkg}:{path}#frame={i}")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"dataset {out_dir}: {len(manifest['train'])} train, {len(manifest['heldout'])} held-out images "
        f"({len(stills)} stills, {len(videos)} videos)")
    return manifest


def load_split(data_dir: str, split: str, limit: Optional[int] = None) -> List[np.ndarray]:
    with open(os.path.join(data_dir, "manifest.json")) as f:
        entries = json.load(f)[split]
    if limit is not None:
        entries = entries[:limit]
    return [load_rgb(os.path.join(data_dir, split, e["file"])) for e in entries]


# ------------------------------ views: what the teacher and the student see
def to_chw(img: np.ndarray, device="cpu") -> torch.Tensor:
    """H x W x 3 uint8 array -> 3 x H x W uint8 tensor on device (views are cut there, GPU included)."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous().to(device)


def _resize(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    y = F.interpolate(x.float().unsqueeze(0), size=tuple(size), mode="bilinear", align_corners=False,
                      antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8)[0]


def resize_view(img: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Whole 3 x h x w uint8 image -> 3 x H x W uint8 frame at the teacher's input size (antialiased)."""
    return _resize(img, size)


def random_view(img: torch.Tensor, size: Tuple[int, int], rng: np.random.Generator, min_area: float = 0.25,
                jitter: float = 0.2) -> torch.Tensor:
    """Augmented 3 x H x W uint8 frame: random crop (area min_area..1, aspect 3/4..4/3 of the frame's),
    horizontal flip, saturation/contrast/brightness jitter of +-jitter."""
    h, w = img.shape[1:]
    for _ in range(10):
        area = rng.uniform(min_area, 1.0) * h * w
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))) * (size[1] / size[0])
        ch, cw = int(round(np.sqrt(area / aspect))), int(round(np.sqrt(area * aspect)))
        if 0 < ch <= h and 0 < cw <= w:
            break
    else:
        ch, cw = h, w
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    x = img[:, y0:y0 + ch, x0:x0 + cw].float().unsqueeze(0)
    x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    if rng.random() < 0.5:
        x = x.flip(-1)
    if jitter > 0:
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * (1 + rng.uniform(-jitter, jitter))  # saturation
        mean = x.mean()
        x = mean + (x - mean) * (1 + rng.uniform(-jitter, jitter))  # contrast
        x = x * (1 + rng.uniform(-jitter, jitter))  # brightness
    return x.round().clamp(0, 255).to(torch.uint8)[0]


kImageNetMean = (0.485, 0.456, 0.406)
kImageNetStd = (0.229, 0.224, 0.225)


def student_input(views_u8: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """N x 3 x H x W uint8 frames -> the encoder's input: resized to H/factor x W/factor with bilinear
    half-pixel sampling (no antialias), then ImageNet-normalised: io::preprocess_rgb_u8 / docs/model.md."""
    x = views_u8.float()
    h, w = x.shape[-2] // factor, x.shape[-1] // factor
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    mean = torch.tensor(kImageNetMean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(kImageNetStd, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def iterate_batches(n: int, batch: int) -> Iterable[slice]:
    for i in range(0, n, batch):
        yield slice(i, min(n, i + batch))
