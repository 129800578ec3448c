"""Images from clients (snapshot, classic form, API): checked, decoded, and placed as the dataset draws.

Pure functions. A data URL's header is read before any pixel is decoded (size and format); the ink is found
from the image itself, whatever its colours: on a transparent background it is what is opaque, on an
opaque one what differs from the border's dominant colour (dark on light, light on dark, coloured). A
28×28 image is taken as the model's input as it is, like the dataset's own bitmaps; any other size is
cropped to its ink and redrawn in the dataset's geometry and line width.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

import numpy as np

from realtime.core.errors import InputError

# realtime.core.preprocess imports OpenCV first, with the cap on image size that OpenCV reads at import.
from realtime.core.preprocess import BOX, CANVAS, LINE_DIAMETER, MAX_IMAGE_SIDE, PADDING, SIDE, cv2

MAX_IMAGE_BYTES = 4 * 1024 * 1024  # decoded (base64-free) bytes
FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}  # data URL subtype → format
MAX_DATA_URL_CHARS = 4 * ((MAX_IMAGE_BYTES + 2) // 3) + len("data:image/jpeg;base64,")
# Least difference from the background (0–255) that counts as ink: below it an image is blank. JPEG noise
# stays under 10 on a flat background; a light pencil grey on white is about 60.
MIN_CONTRAST = 24
# Redrawing works on the ink cropped and, when large, area-shrunk so its long side is at most this many
# pixels (the dataset's 256 box at about one pixel per unit) while the brush stays this many pixels wide.
WORK_SIDE = 288
MIN_WORK_BRUSH = 6.0
# Redrawn lines are sampled this many times per output pixel at most (the rasterizer draws at 6): lines
# are 1.5 output pixels wide, so more samples only cost time.
MAX_FINE = 6
# libjpeg decodes at 1/2, 1/4 or 1/8 of the size at a fraction of the cost: use it down to this long side.
JPEG_REDUCED_SIDE = 512
_JPEG_REDUCED = (  # EXIF orientation ignored, as IMREAD_UNCHANGED does: one image, one shape
    (8, cv2.IMREAD_REDUCED_COLOR_8 | cv2.IMREAD_IGNORE_ORIENTATION),
    (4, cv2.IMREAD_REDUCED_COLOR_4 | cv2.IMREAD_IGNORE_ORIENTATION),
    (2, cv2.IMREAD_REDUCED_COLOR_2 | cv2.IMREAD_IGNORE_ORIENTATION),
)
# The JPEG markers libjpeg reads before a frame header (SOF, APPn, COM, tables, restarts): anything else
# there, a stuffed FF 00 included, means the header walk and the decoder could disagree, so it is refused.
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_SEGMENTS = frozenset({0xC4, 0xCC, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xFE, *range(0xE0, 0xF0)})
# A progressive JPEG decodes scan by scan: a small file with thousands of scans costs seconds. Encoders
# write about ten.
MAX_JPEG_SCANS = 100
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PREFIX = "data:image/png;base64,"


def decode_data_url(url: Any, max_bytes: int = MAX_IMAGE_BYTES, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """Decode a PNG, JPEG or WebP data URL safely into uint8 (H, W), (H, W, 3) BGR or (H, W, 4) BGRA.

    The byte size and the header's width and height are checked before any pixel is decoded; sides are
    capped at `max_side` (at most MAX_IMAGE_SIDE: placing a 4096² image takes seconds). A large JPEG is
    decoded at a reduced size.
    """
    max_side = min(max_side, MAX_IMAGE_SIDE)
    if not isinstance(url, str):
        raise InputError("bad_data_url", "the image must be a data URL string")
    head, comma, _ = url[:40].partition(",")
    subtype = head.removeprefix("data:image/").removesuffix(";base64")
    if (
        not comma
        or not head.startswith("data:image/")
        or not head.endswith(";base64")
        or subtype not in FORMATS
    ):
        raise InputError("bad_data_url", "the image must be a data:image/png, jpeg or webp;base64 URL")
    if len(url) - len(head) - 1 > 4 * ((max_bytes + 2) // 3):
        raise InputError("image_too_large", f"the image is over {max_bytes} bytes")
    try:
        data = base64.b64decode(url[len(head) + 1 :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("bad_data_url", "the data URL is not valid base64") from exc
    kind, width, height = image_size(data)
    if width > max_side or height > max_side:
        raise InputError("image_too_large", f"the image is {width}×{height}; at most {max_side}×{max_side}")
    flag, reduced = cv2.IMREAD_UNCHANGED, 1
    if kind == "jpeg":
        if data.count(b"\xff\xda") > MAX_JPEG_SCANS:
            raise InputError("not_image", f"the JPEG has more than {MAX_JPEG_SCANS} scans")
        reduced, flag = next(
            ((k, f) for k, f in _JPEG_REDUCED if max(width, height) >= k * JPEG_REDUCED_SIDE), (1, flag)
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None or image.size == 0:
        raise InputError("not_image", f"the {kind.upper()} could not be decoded")
    if image.shape[:2] != (-(-height // reduced), -(-width // reduced)):  # what the header said, or refuse
        raise InputError("not_image", f"the {kind.upper()} is not the size its header declares")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError("not_image", "unsupported sample format")
    return image


def image_size(data: bytes) -> tuple[str, int, int]:
    """Read (format, width, height) from a PNG, JPEG or WebP header, refusing anything else."""
    if data.startswith(_PNG_SIGNATURE):
        size = _png_size(data)
        kind = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        size = _jpeg_size(data)
        kind = "jpeg"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
        kind = "webp"
    else:
        raise InputError("not_image", "the image is not a PNG, JPEG or WebP")
    if size is None:
        raise InputError("not_image", f"the {kind.upper()} header is damaged")
    if size[0] == 0 or size[1] == 0:
        raise InputError("not_image", f"the {kind.upper()} has no pixels")
    return (kind, *size)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the IHDR chunk, which must come first."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame segment, walking the segments before it."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            at += 2
            continue
        if marker not in _JPEG_FRAMES and marker not in _JPEG_SEGMENTS:
            return None  # a scan, an end, a second start or a stuffed byte before any frame header
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_FRAMES:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        if length < 2:
            return None
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def ink_of(image: np.ndarray) -> np.ndarray:
    """Return the ink of a decoded image as uint8 (H, W): how far each pixel stands out from the background.

    A transparent background (the border mostly under half opaque): the ink is the alpha. Otherwise the
    background is the border's median colour (alpha included) and the ink each pixel's largest channel
    difference from it. An image with no difference of MIN_CONTRAST is blank (all zero).
    """
    if image.ndim == 3 and image.shape[2] in (2, 4) and np.median(_border(image[:, :, -1])) < 128:
        return np.ascontiguousarray(image[:, :, -1])
    channels = image.shape[2] if image.ndim == 3 else 1
    background = np.median(_border(image), axis=0)
    if channels == 1:  # a grey image 4 pixels high and 1 wide would take a scalar for a 4×1 array
        diff = cv2.absdiff(image, np.full_like(image, round(float(background[0]))))
    else:
        diff = cv2.absdiff(image, tuple(float(v) for v in background) + (0.0,) * (4 - channels))
    # Crop first: the ink's box from any channel's difference, then the largest difference within it.
    flat = diff.reshape(len(diff), -1)
    x, y, w, h = cv2.boundingRect(cv2.threshold(flat, MIN_CONTRAST - 1, 255, cv2.THRESH_BINARY)[1])
    ink = np.zeros(image.shape[:2], np.uint8)
    if w == 0:
        return ink
    left, right = x // channels, (x + w - 1) // channels + 1
    planes = cv2.split(diff[y : y + h, left:right]) if channels > 1 else [diff[y : y + h, left:right]]
    box = planes[0]
    for plane in planes[1:]:
        box = cv2.max(box, plane)
    ink[y : y + h, left:right] = box
    return ink


def _border(image: np.ndarray) -> np.ndarray:
    """Return the outermost pixels of an image (each side once), as rows of channel values."""
    channels = image.shape[2] if image.ndim == 3 else 1
    sides = (image[0], image[-1], image[1:-1, 0], image[1:-1, -1])
    return np.concatenate([side.reshape(-1, channels) for side in sides])


def image_to_bitmap(ink: np.ndarray) -> np.ndarray:
    """Place an ink image (0 = paper) in the dataset's geometry and line width: float32 28×28 in [0, 1].

    A 28×28 ink image already is one (the dataset's own format) and is returned as it is. In any other, the
    ink's edge lies where it has half the strength of the strongest ink (an anti-aliased edge's middle).
    """
    if ink.ndim != 2 or ink.dtype != np.uint8:
        raise InputError("bad_image", "the ink image must be a 2-D uint8 array")
    if ink.shape == (SIDE, SIDE):
        if not ink.any():
            raise InputError("empty_drawing", "the image has no ink")
        return ink.astype(np.float32) / 255.0
    half = int(ink.max()) // 2
    if half == 0:
        raise InputError("empty_drawing", "the image has no ink")
    mask = cv2.threshold(ink, half, 1, cv2.THRESH_BINARY)[1]
    mask = _working_mask(ink, mask, half, *cv2.boundingRect(mask))
    crop = np.pad(mask, 1)
    # 5×5 chamfer distances, not exact ones: a sixth of the time, and the same parity on every test drawing.
    inside = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_5)
    outside = cv2.distanceTransform(1 - crop, cv2.DIST_L2, cv2.DIST_MASK_5)
    # Distance of each pixel centre from the ink's edge, half a pixel from the border pixels' centres.
    edge = np.where(crop > 0, inside - 0.5, 0.5 - outside)
    brush = _brush_width(inside)
    height, width = mask.shape
    extent = max(width, height) - brush  # the centre lines' extent: the ink less the brush
    if extent <= 1.0:
        raise InputError("too_small", "the drawing is a single dot: draw a line")
    scale = 255.0 / extent  # working pixels -> 256-box units
    # Redraw each stroke at the dataset's diameter: keep what lies within 8 units of the centre line.
    depth = brush / 2.0 - (LINE_DIAMETER / 2.0) / scale
    alpha = np.clip(edge - depth + 0.5, 0.0, 1.0).astype(np.float32)
    # Map crop pixels to the output, centring the centre lines' box in the 256 box as the dataset does.
    # Crop pixel j's centre lies at j + 0.5 and the ink's edge at 1 (the padding), so the centre lines
    # start at 1 + brush / 2; a grid pixel q's centre lies at q + 0.5 (OpenCV's convention).
    centre = np.array([width, height]) - brush
    origin = (BOX - centre * scale) / 2.0 + PADDING + LINE_DIAMETER / 2.0 - (1.0 + brush / 2.0 - 0.5) * scale
    # Shrinking: draw on a grid `fine` times finer with bilinear sampling, then area-average down.
    fine = min(MAX_FINE, max(1, math.ceil(CANVAS / (SIDE * scale))))
    step = scale * SIDE / CANVAS * fine  # grid pixels per crop pixel
    shift = origin * SIDE / CANVAS * fine - 0.5
    matrix = np.float32([[step, 0, shift[0]], [0, step, shift[1]]])
    grid = cv2.warpAffine(alpha, matrix, (SIDE * fine, SIDE * fine), flags=cv2.INTER_LINEAR)
    out = cv2.resize(grid, (SIDE, SIDE), interpolation=cv2.INTER_AREA) if fine > 1 else grid
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _working_mask(ink: np.ndarray, mask: np.ndarray, half: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    """Crop the ink mask to its box, area-shrunk when large so that the distance transforms stay cheap.

    The shrink keeps the long side at WORK_SIDE or more and the brush, estimated as twice the ink's area
    over its outline, at MIN_WORK_BRUSH pixels or more.
    """
    crop = mask[y : y + h, x : x + w]
    if max(w, h) <= WORK_SIDE:
        return crop
    area = cv2.countNonZero(crop)
    outline = area - cv2.countNonZero(cv2.erode(crop, None, borderType=cv2.BORDER_CONSTANT, borderValue=0))
    brush = 2.0 * area / max(outline, 1)
    factor = min(max(w, h) / WORK_SIDE, brush / MIN_WORK_BRUSH)
    if factor < 1.5:
        return crop
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    shrunk = cv2.resize(ink[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA)
    shrunk = cv2.threshold(shrunk, half, 1, cv2.THRESH_BINARY)[1]
    x, y, w, h = cv2.boundingRect(shrunk)  # edges that fell under half coverage
    return shrunk[y : y + h, x : x + w] if w else crop


def _brush_width(inside: np.ndarray) -> float:
    """Estimate the brush diameter in pixels from the ink's distance transform (its ridge values)."""
    ridge = (inside >= cv2.dilate(inside, np.ones((3, 3), np.uint8))) & (inside > 0)
    values = inside[ridge]
    # A ridge pixel's distance to the nearest paper pixel's centre is half the width plus half a pixel.
    return float(2.0 * np.median(values) - 1.0) if len(values) else 1.0


def data_url_to_bitmap(
    url: Any, max_bytes: int = MAX_IMAGE_BYTES, max_side: int = MAX_IMAGE_SIDE
) -> np.ndarray:
    """Decode an image data URL, find its ink, place it as the dataset would: float32 28×28 in [0, 1]."""
    return image_to_bitmap(ink_of(decode_data_url(url, max_bytes, max_side)))


def bitmap_to_png_data_url(bitmap: np.ndarray) -> str:
    """Encode a (28, 28) bitmap in [0, 1] as a PNG data URL (white on black): what the model saw."""
    pixels = np.clip(np.asarray(bitmap, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 2-D array
        raise InputError("bad_image", "could not encode the bitmap")
    return _PNG_PREFIX + base64.b64encode(png.tobytes()).decode("ascii")
