"""Client images (snapshot, classic form, API) in any colours and formats, against Google's own bitmaps."""

from __future__ import annotations

import base64
import struct
import zlib
from functools import cache

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.quickdraw import canvas_image, canvas_png_data_url, paired, raw_points
from realtime.config import Config
from realtime.core import images, preprocess
from realtime.core.errors import InputError
from realtime.model.recognizer import Recognizer
from tests.support.images import assert_bitmap_or_typed_error, data_url

WHITE, BLACK = (255, 255, 255), (0, 0, 0)
# How clients draw: (paper, ink) per channel (grey, BGR or BGRA), the bit depth, and what they look like.
LOOKS = {
    "grey, dark on light": ((255,), (0,), np.uint8),
    "grey, light on dark (the dataset's look)": ((0,), (255,), np.uint8),
    "grey, 16-bit": ((60000,), (3000,), np.uint16),
    "RGB, dark theme": ((34, 30, 30), (235, 235, 230), np.uint8),
    "RGB, blue ink on white": (WHITE, (200, 90, 20), np.uint8),
    "RGB, yellow ink on white": (WHITE, (40, 215, 240), np.uint8),
    "RGB, dark red ink on yellow paper": ((150, 235, 250), (30, 30, 140), np.uint8),
    "RGBA, opaque white": ((*WHITE, 255), (*BLACK, 255), np.uint8),
    "RGBA, transparent, green ink": ((0, 0, 0, 0), (40, 190, 40, 255), np.uint8),
    "RGBA, transparent, white ink": ((255, 255, 255, 0), (255, 255, 255, 255), np.uint8),
}
ENCODINGS = {
    "png": (".png", "image/png", []),
    "jpeg": (".jpg", "image/jpeg", [cv2.IMWRITE_JPEG_QUALITY, 85]),
    "webp lossy": (".webp", "image/webp", [cv2.IMWRITE_WEBP_QUALITY, 90]),
    "webp lossless": (".webp", "image/webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
}
# Mean absolute difference from Google's bitmaps over the paired drawings: the strokes themselves render
# at about 0.01; every look in every format here at about 0.016.
PARITY = 0.02


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference in [0, 1] units."""
    return float(np.abs(a - b).mean())


def encode(image: np.ndarray, encoding: str) -> str:
    """Encode an image as a data URL in one of ENCODINGS."""
    extension, media, params = ENCODINGS[encoding]
    ok, data = cv2.imencode(extension, image, params)
    assert ok, encoding
    return f"data:{media};base64," + base64.b64encode(data.tobytes()).decode("ascii")


@cache
def model() -> Recognizer:
    """The default model, loaded once."""
    return Recognizer.from_name(Config().MODEL)


# --- in any colours, formats and sizes ------------------------------------------------------------


@pytest.mark.parametrize("brush", [4, 8, 16])
@pytest.mark.parametrize("transparent", [False, True], ids=["white", "transparent"])
def test_canvas_png_matches_googles_bitmaps(brush: int, transparent: bool) -> None:
    diffs = [
        mean_abs(
            images.data_url_to_bitmap(canvas_png_data_url(raw_points(p.raw), brush, transparent)),
            p.bitmap,
        )
        for p in paired()
    ]
    assert np.mean(diffs) <= 0.03, f"mean {np.mean(diffs):.4f}"


def encodable(look: str, encoding: str) -> bool:
    """Tell whether an encoding can hold a look: only PNG has 16-bit samples, JPEG has no alpha."""
    paper, _, dtype = LOOKS[look]
    return encoding == "png" or (dtype is np.uint8 and not (len(paper) == 4 and encoding == "jpeg"))


@pytest.mark.parametrize(
    ("look", "encoding"), [(look, e) for look in LOOKS for e in ENCODINGS if encodable(look, e)]
)
def test_any_colours_and_format_match_googles_bitmaps(look: str, encoding: str) -> None:
    paper, ink, dtype = LOOKS[look]
    drawings = paired()[::3]
    diffs = []
    for p in drawings:
        image = canvas_image(raw_points(p.raw), 8, side=320, paper=paper, ink=ink, dtype=dtype)
        diffs.append(mean_abs(images.data_url_to_bitmap(encode(image, encoding)), p.bitmap))
    assert np.mean(diffs) <= PARITY, f"mean {np.mean(diffs):.4f} over {len(drawings)}"


def test_a_negative_is_no_longer_what_the_model_sees() -> None:
    """The dataset's look (light ink on dark) and the page's look (dark on light) give one bitmap."""
    for p in paired()[:10]:
        strokes = raw_points(p.raw)
        light = images.data_url_to_bitmap(data_url(canvas_image(strokes, 8)))
        dark = images.data_url_to_bitmap(data_url(canvas_image(strokes, 8, paper=BLACK, ink=WHITE)))
        assert mean_abs(light, dark) <= 0.002, p.key_id


@pytest.mark.parametrize(("side", "bound"), [(64, 0.05), (1024, 0.03), (4096, 0.03)])
def test_from_small_images_up_to_the_size_cap(side: int, bound: float) -> None:
    """A 64 px image has lost detail the dataset's 28×28 keeps (at 48 px the mean is 0.06)."""
    diffs = []
    for p in paired()[:: 16 if side == 4096 else 2]:
        image = canvas_image(raw_points(p.raw), max(2, side // 50), side=side, margin=side // 12)
        bitmap = images.data_url_to_bitmap(data_url(image), max_side=images.MAX_IMAGE_SIDE)
        diffs.append(mean_abs(bitmap, p.bitmap))
    assert np.mean(diffs) <= bound, f"mean {np.mean(diffs):.4f}"


def test_a_large_jpeg_is_decoded_at_a_reduced_size_and_still_matches() -> None:
    p = paired()[0]
    image = canvas_image(raw_points(p.raw), 40, side=2400, margin=200)
    url = encode(image, "jpeg")
    assert images.decode_data_url(url).shape[:2] == (600, 600)  # a quarter of each side
    assert mean_abs(images.data_url_to_bitmap(url), p.bitmap) <= 0.035


@pytest.mark.parametrize(
    "look",
    ["white on black", "black on white", "transparent"],
)
def test_a_dataset_bitmap_as_a_28x28_png_comes_back_unchanged(look: str) -> None:
    bitmaps = np.stack([p.bitmap for p in paired()])
    back = []
    for bitmap in bitmaps:
        pixels = np.round(bitmap * 255).astype(np.uint8)
        if look == "black on white":
            pixels = 255 - pixels
        elif look == "transparent":
            pixels = np.dstack([np.zeros((28, 28, 3), np.uint8), pixels])
        back.append(images.data_url_to_bitmap(data_url(pixels)))
    back = np.stack(back)
    assert np.abs(back - bitmaps).mean(axis=(1, 2)).max() <= 0.01
    np.testing.assert_array_equal(model().predict(back).argmax(1), model().predict(bitmaps).argmax(1))


def test_the_bitmap_the_model_saw_round_trips_through_its_png() -> None:
    bitmap = preprocess.rasterize_quickdraw(paired()[0].raw)
    url = images.bitmap_to_png_data_url(bitmap)
    assert url.startswith("data:image/png;base64,")
    np.testing.assert_allclose(images.data_url_to_bitmap(url), bitmap, atol=1 / 255)


@pytest.mark.parametrize(
    ("paper", "encoding"),
    [
        ((255,), "png"),
        ((0,), "png"),
        ((90, 140, 200), "png"),
        ((0, 0, 0, 0), "png"),
        ((255, 255, 255, 255), "png"),
        ((255, 255, 255), "jpeg"),
        ((30, 30, 30), "webp lossy"),
    ],
)
def test_an_image_of_one_colour_is_an_empty_drawing(paper: tuple[int, ...], encoding: str) -> None:
    for side in (28, 200):
        image = np.empty((side, side, len(paper)), np.uint8)
        image[:] = paper
        with pytest.raises(InputError) as error:
            images.data_url_to_bitmap(encode(image if len(paper) > 1 else image[:, :, 0], encoding))
        assert error.value.code == "empty_drawing"


def test_faint_noise_is_not_ink() -> None:
    noise = np.random.default_rng(3).integers(240, 256, size=(200, 200), dtype=np.uint8)  # under MIN_CONTRAST
    with pytest.raises(InputError) as error:
        images.data_url_to_bitmap(data_url(noise))
    assert error.value.code == "empty_drawing"


def test_ink_touching_the_border_does_not_become_the_background() -> None:
    p = paired()[0]
    image = canvas_image(raw_points(p.raw), 8, side=300, margin=0)  # the drawing reaches every side
    assert mean_abs(images.data_url_to_bitmap(data_url(image)), p.bitmap) <= 0.05


# --- headers are checked before decoding -----------------------------------------------------------


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width×height (a 'PNG bomb' when large)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 1000)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return (
        b"\x89PNG\r\n\x1a\n" + body + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def jpeg_with_header(width: int, height: int) -> bytes:
    """A JPEG start (SOI, an APP0 segment, a baseline frame header) declaring width×height, no pixels."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + frame + b"\xff\xd9"


def webp_with_header(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP header declaring width×height, no pixels."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def raw_url(data: bytes, media: str = "image/png") -> str:
    """Wrap bytes in a data URL."""
    return f"data:{media};base64," + base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize(("width", "height"), [(28, 28), (640, 480), (333, 1001)])
def test_the_header_gives_the_size_of_real_encodings(encoding: str, width: int, height: int) -> None:
    image = np.full((height, width, 3), 200, np.uint8)
    data = base64.b64decode(encode(image, encoding).partition(",")[2])
    assert images.image_size(data) == (encoding.split()[0], width, height)


def test_a_progressive_jpeg_header_gives_its_size() -> None:
    image = np.full((300, 500, 3), 200, np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    assert images.image_size(data.tobytes()) == ("jpeg", 500, 300)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (42, "bad_data_url"),
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "bad_data_url"),
        ("data:text/plain;base64,AAAA", "bad_data_url"),
        ("data:image/png,rawtext", "bad_data_url"),
        ("data:image/png;base64,***", "bad_data_url"),
        (raw_url(b"\x89PNG\r\n"), "not_image"),  # a truncated PNG signature
        (raw_url(b"GIF89a" + b"\x00" * 40), "not_image"),
        (raw_url(b"BM" + b"\x00" * 60), "not_image"),
        (raw_url(png_with_header(60_000, 60_000)), "image_too_large"),
        (raw_url(png_with_header(4097, 10)), "image_too_large"),
        (raw_url(png_with_header(0, 10)), "not_image"),
        (raw_url(png_with_header(100, 100)[:60]), "not_image"),  # header fine, pixels missing
        (raw_url(jpeg_with_header(60_000, 60_000), "image/jpeg"), "image_too_large"),
        (raw_url(jpeg_with_header(100, 100), "image/jpeg"), "not_image"),  # no pixels
        (raw_url(jpeg_with_header(100, 100)[:12], "image/jpeg"), "not_image"),  # no frame header
        (raw_url(b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 20, "image/jpeg"), "not_image"),  # bad length
        (raw_url(webp_with_header(16_000, 16_000), "image/webp"), "image_too_large"),
        (raw_url(webp_with_header(100, 100), "image/webp"), "not_image"),
        (raw_url(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"), "not_image"),
        (raw_url(jpeg_with_header(100, 100)[:-2] + b"\xff\xda" * 101, "image/jpeg"), "not_image"),  # scans
        ("data:image/png;base64," + "A" * (images.MAX_DATA_URL_CHARS + 4), "image_too_large"),
    ],
)
def test_bad_images_raise_typed_errors(url: object, code: str) -> None:
    with pytest.raises(InputError) as error:
        images.data_url_to_bitmap(url)
    assert error.value.code == code
    assert error.value.message


def test_a_jpeg_cannot_hide_its_frame_header_from_the_size_check() -> None:
    """A stuffed FF 00 before the frame header: libjpeg skips it, a careless header walk jumps by its "length"
    to a small decoy frame header while the decoder reads the real, large one. Such a file is refused."""
    big = np.full((3000, 3000, 3), 255, np.uint8)
    cv2.line(big, (100, 100), (2900, 2900), (0, 0, 0), 20)
    ok, real = cv2.imencode(".jpg", big)
    assert ok
    decoy = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 16, 16, 1) + b"\x01\x11\x00"
    app1 = b"\xff\xe1\xff\xff" + bytes(0xFFFF - 2)  # libjpeg skips this segment, decoy inside
    at = 4 + 0xFFE1  # where a walk that reads FF 00 as a segment lands: inside the APP1 segment (from 4)
    crafted = b"\xff\xd8\xff\x00" + app1[: at - 4] + decoy + app1[at - 4 + len(decoy) :]
    crafted += real.tobytes()[2:]
    with pytest.raises(InputError) as error:
        images.data_url_to_bitmap(raw_url(crafted, "image/jpeg"), max_bytes=1 << 22, max_side=1024)
    assert error.value.code == "not_image"


def test_a_lower_side_cap_is_checked_before_decoding() -> None:
    url = raw_url(png_with_header(2000, 10))  # pixels missing: only the header check can answer
    with pytest.raises(InputError) as error:
        images.data_url_to_bitmap(url, max_side=1024)
    assert error.value.code == "image_too_large"
    with pytest.raises(InputError) as error:
        images.data_url_to_bitmap(url, max_side=10_000)  # 2000 is within the cap: decoding fails
    assert error.value.code == "not_image"


def test_the_declared_type_need_not_match_the_content() -> None:
    """Browsers label loosely: the bytes decide the format, and every format's header is checked."""
    p = paired()[0]
    image = canvas_image(raw_points(p.raw), 8, side=300)
    for encoding in ENCODINGS:
        relabelled = "data:image/png;base64," + encode(image, encoding).partition(",")[2]
        assert mean_abs(images.data_url_to_bitmap(relabelled), p.bitmap) <= 0.05, encoding


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF"]))
def test_any_bytes_give_a_bitmap_or_a_typed_error(data: bytes, signature: bytes) -> None:
    data = b"RIFF" + data[:4] + b"WEBP" + data[4:] if signature == b"RIFF" else signature + data
    assert_bitmap_or_typed_error(images.data_url_to_bitmap, raw_url(data))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from([1, 3, 4]),
    st.integers(0, 2**32 - 1),
)
def test_any_small_image_gives_a_bitmap_or_a_typed_error(
    width: int, height: int, channels: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    image = rng.choice([0, 17, 128, 255], size=(height, width, channels)).astype(np.uint8)
    assert_bitmap_or_typed_error(
        images.data_url_to_bitmap, data_url(image if channels > 1 else image[:, :, 0])
    )
