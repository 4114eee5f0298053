"""Make the person matte of scikit-image's astronaut.png once, for mediamesh.synth.portraits.

    pip install "opencv-python-headless<4.12"   # the bench extra; the generator never needs it
    python tools/make_astronaut_matte.py [--preview out.png]

The photo (NASA, public domain) is cropped to its top CROP_ROWS rows: head and shoulders,
the framing the selfie model is made for, and above the helmet held at the bottom right
(a held object is not the person, and leaving it in would make the truth arguable).
OpenCV's GrabCut (colour GMMs + graph cut) segments the crop from a hand-placed seed: a
rectangle around the person, strokes that are surely person (face, neck ring, suit) and
surely not (wall, flag, shuttle model). The result is kept to its largest component, holes
filled, and feathered by a Gaussian of FEATHER_SIGMA px, so the cut-out has an
anti-aliased edge. The PNG it writes (greyscale, 255 = person) is committed under
mediamesh/synth/data/ with its provenance in the README there; the matte is the truth of
every generated portrait clip by construction (the person is composited with it), so its
fidelity to the real photo only decides how natural the cut-out looks, never how exact
the truth is.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import data

CROP_ROWS = 340
FEATHER_SIGMA = 0.8  # px
ITERATIONS = 8
OUT = Path(__file__).resolve().parents[1] / "mediamesh" / "synth" / "data" / "astronaut_matte.png"

# seeds in crop pixels (x, y): a person region, and strokes that are surely one or the other
RECT = (8, 6, 372, CROP_ROWS - 6)  # x0, y0, x1, y1: the person is inside
SURE_PERSON_ELLIPSES = [  # cx, cy, rx, ry
    (226, 100, 40, 62),   # face
    (226, 45, 50, 22),    # crown of the hair
    (210, 215, 80, 55),   # neck ring and collar
    (190, 300, 150, 38),  # suit, chest and arms
    (95, 295, 25, 30),    # left sleeve
    (335, 305, 14, 25),   # right shoulder
]
SURE_BACKGROUND_POLYGONS = [
    [(0, 0), (150, 0), (150, 20), (130, 120), (95, 170), (0, 200)],          # wall, flag top
    [(310, 0), (512, 0), (512, CROP_ROWS), (380, CROP_ROWS), (370, 300),
     (350, 200), (300, 160), (305, 110)],                                       # wall, shuttle
    [(0, 195), (105, 188), (112, 200), (76, 224), (48, 260), (30, 298), (18, CROP_ROWS),
     (0, CROP_ROWS)],                                                           # flag
    [(300, 215), (335, 240), (352, 256), (362, 276), (369, 305), (374, CROP_ROWS),
     (512, CROP_ROWS), (512, 150), (380, 150)],                                 # wall
]


def seeds(shape: tuple[int, int]) -> np.ndarray:
    """GrabCut's initial mask for the crop."""
    import cv2

    h, w = shape
    init = np.full((h, w), cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = RECT
    init[y0:y1, x0:x1] = cv2.GC_PR_FGD
    background = np.zeros((h, w), np.uint8)
    for polygon in SURE_BACKGROUND_POLYGONS:
        cv2.fillPoly(background, [np.asarray(polygon, np.int32)], 1)
    init[background > 0] = cv2.GC_BGD
    yy, xx = np.mgrid[0:h, 0:w]
    for cx, cy, rx, ry in SURE_PERSON_ELLIPSES:
        init[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0] = cv2.GC_FGD
    return init


def person_mask(image: np.ndarray) -> np.ndarray:
    """Binary person mask of the cropped photo (True = person)."""
    import cv2

    init = seeds(image.shape[:2])
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), init, None, bgd, fgd, ITERATIONS,
                cv2.GC_INIT_WITH_MASK)
    person = (init == cv2.GC_FGD) | (init == cv2.GC_PR_FGD)
    labels, count = ndimage.label(person)
    if count > 1:
        sizes = ndimage.sum(person, labels, range(1, count + 1))
        person = labels == 1 + int(np.argmax(sizes))
    # holes, except where the person meets the crop's bottom edge (those are open)
    return ndimage.binary_fill_holes(person)


def feathered(person: np.ndarray) -> np.ndarray:
    """uint8 matte with an anti-aliased edge; the bottom rows stay as cut."""
    soft = ndimage.gaussian_filter(person.astype(np.float32), FEATHER_SIGMA, mode="nearest")
    return np.clip(np.round(soft * 255.0), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preview", type=Path, help="also write the cut-out over magenta")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    photo = data.astronaut()[:CROP_ROWS]
    matte = feathered(person_mask(photo))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(matte, "L").save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 "
          f"{hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]}), person "
          f"{(matte > 127).mean():.3f} of the crop")
    if args.preview:
        a = matte[..., None].astype(np.float32) / 255.0
        magenta = np.array([255, 0, 255], np.float32)
        Image.fromarray((photo * a + magenta * (1 - a)).astype(np.uint8)).save(args.preview)


if __name__ == "__main__":
    main()
