"""How a picture from the notebook becomes an image a vision model is sent, within the service's limits.

Qianfan's v2 takes an image as a content part, ``{"type": "image_url", "image_url": {"url": …}}``, whose URL is
an http(s) address of at most 1,024 bytes or a ``data:image/<format>;base64,…`` URL of at most 10 MB, with a
shortest side of at least 5 pixels. This module turns what a notebook holds (a matplotlib Figure, a PIL Image,
an ``IPython.display.Image``, PNG or JPEG bytes, a file's path, a URL) into a ``Picture`` that meets those
limits, downscaling a picture that is too large, and saying what was wrong when it cannot.

It reads the pixel size from the PNG or JPEG header itself, so the emulator can describe what it was sent and
the log can record it without any image library. Libraries are never imported here: a Figure or a PIL Image
is recognised by what it can do, and PIL is imported only to shrink a picture that must shrink.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE = 5
MAX_URL_BYTES = 1024
_LARGEST_FILE = 20 * MAX_BYTES  # read whole before shrinking: a bound on what a mistaken path can cost
FORMATS = ("png", "jpeg")
_MIME = {"png": "image/png", "jpeg": "image/jpeg"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# JPEG start-of-frame markers, which carry the picture's size (not DHT 0xC4, JPG 0xC8 or DAC 0xCC)
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
ALLOWED = ("a matplotlib Figure, a PIL Image, an IPython.display.Image, PNG or JPEG bytes, the path of a PNG or "
           "JPEG file, or an http(s) URL")


class ImageError(ValueError):
    """A picture that cannot be sent: the message says what was wrong and what is allowed."""


@dataclass(frozen=True)
class Picture:
    """An image ready to send: its bytes (or a URL), format and pixel size, and how it was made to fit."""

    data: bytes | None
    format: str | None
    width: int | None
    height: int | None
    source: str
    url: str | None = None
    original_size: tuple[int, int] | None = None  # the size before downscaling, when it was downscaled

    @property
    def downscaled(self) -> bool:
        return self.original_size is not None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data if self.data is not None else (self.url or "").encode()).hexdigest()

    @property
    def data_url(self) -> str:
        if self.data is None:
            return self.url or ""
        return f"data:{_MIME[self.format]};base64,{base64.b64encode(self.data).decode('ascii')}"

    def part(self, detail: str | None = None) -> dict:
        """The content part that carries this picture in a v2 message."""
        image_url = {"url": self.data_url}
        if detail is not None:
            image_url["detail"] = detail
        return {"type": "image_url", "image_url": image_url}

    def describe(self) -> str:
        """One line for people: what it is and how big, and whether it was shrunk to fit."""
        if self.data is None:
            return f"{self.source}: {self.url}"
        size = f"{self.width}×{self.height} {self.format.upper()}, {_kilobytes(len(self.data))}"
        if self.downscaled:
            size += f", downscaled from {self.original_size[0]}×{self.original_size[1]}"
        return f"{self.source}: {size}"


def _kilobytes(count: int) -> str:
    return f"{count / 1024:,.0f} KB" if count < 1024 * 1024 else f"{count / 1024 / 1024:,.1f} MB"


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) read from PNG or JPEG bytes' header; None for anything else."""
    if data.startswith(_PNG_MAGIC) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(_JPEG_MAGIC):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes between segments
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _JPEG_FRAMES and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return "jpeg", width, height
        i += 2 + length
    return None


def is_picture(value) -> bool:
    """Whether ``value`` is something ``picture_of`` can send (a URL or a path only when given as one)."""
    return _kind(value) is not None


def _kind(value) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return "bytes" if image_size(bytes(value)) else None
    if hasattr(value, "savefig") and hasattr(value, "canvas"):
        return "figure"
    if hasattr(value, "save") and hasattr(value, "size") and hasattr(value, "mode"):
        return "pil"
    if type(value).__name__ == "Image" and hasattr(value, "data") and hasattr(value, "format"):
        return "ipython"
    return None


def picture_of(value, *, max_bytes: int = MAX_BYTES) -> Picture:
    """``value`` as a Picture within the limits: a Figure or a PIL Image is encoded as PNG, bytes and files are
    sent as they are when they fit, and a picture over ``max_bytes`` is downscaled until it fits.

    ImageError names what was wrong and what is allowed."""
    kind = _kind(value)
    if kind is None and isinstance(value, (str, Path)):
        text = str(value)
        if text.startswith(("http://", "https://")):
            return _url(text)
        return _checked(_read_file(Path(text).expanduser()), Path(text).name, max_bytes)
    if kind == "figure":
        return _checked(_figure_png(value), "matplotlib figure", max_bytes, figure=value)
    if kind == "pil":
        return _checked(_pil_bytes(value), "PIL image", max_bytes)
    if kind == "ipython":
        data = value.data if isinstance(value.data, (bytes, bytearray)) else None
        if data is None:
            url = getattr(value, "url", None)
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return _url(url)
            raise ImageError("This IPython.display.Image holds no image data and no http(s) URL.")
        return _checked(bytes(data), "IPython image", max_bytes)
    if kind == "bytes":
        return _checked(bytes(value), "image bytes", max_bytes)
    raise ImageError(f"{type(value).__name__} is not a picture: an image is {ALLOWED}.")


def _url(url: str) -> Picture:
    if len(url.encode()) > MAX_URL_BYTES:
        raise ImageError(f"The image URL is {len(url.encode()):,} bytes long; the service takes URLs of at most "
                         f"{MAX_URL_BYTES:,} bytes. Download the image and pass its path instead.")
    return Picture(None, None, None, None, "image URL", url=url)


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(f"There is no file {str(path)!r}: an image is {ALLOWED}.")
    if not path.is_file():
        raise ImageError(f"{str(path)!r} is not a file: an image is {ALLOWED}.")
    size = path.stat().st_size
    if size > _LARGEST_FILE:
        raise ImageError(f"{path.name!r} is {_kilobytes(size)}; pictures up to {_kilobytes(_LARGEST_FILE)} are read "
                         f"and shrunk to the service's {_kilobytes(MAX_BYTES)}. Send a smaller file.")
    with path.open("rb") as handle:
        head = handle.read(len(_PNG_MAGIC))
        if not head.startswith((_PNG_MAGIC, _JPEG_MAGIC)):
            raise ImageError(f"{path.name!r} is not a PNG or JPEG image: the service takes PNG and JPEG.")
        return head + handle.read()


def _figure_png(figure, dpi: float | None = None) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi or figure.dpi)
    return buffer.getvalue()


def _pil_bytes(image, size: tuple[int, int] | None = None) -> bytes:
    if size is not None:
        image = image.copy()
        image.thumbnail(size)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=size is not None)
    return buffer.getvalue()


def _checked(data: bytes, source: str, max_bytes: int, *, figure=None) -> Picture:
    read = image_size(data)
    if read is None:
        raise ImageError(f"The {source} is not a PNG or JPEG image: the service takes PNG and JPEG.")
    form, width, height = read
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"The {source} is {width}×{height} pixels; the service needs the shortest side to be at "
                         f"least {MIN_SIDE} pixels.")
    if len(data) <= max_bytes:
        return Picture(data, form, width, height, source)
    return _downscaled(data, form, width, height, source, max_bytes, figure)


def _downscaled(data: bytes, form: str, width: int, height: int, source: str, max_bytes: int, figure) -> Picture:
    """Halve the picture's area until it fits: a figure is drawn again at a lower dpi, anything else through PIL."""
    scale = 1.0
    while True:
        scale *= 0.7
        new_width, new_height = int(width * scale), int(height * scale)
        if min(new_width, new_height) < MIN_SIDE:
            raise ImageError(f"The {source} is {_kilobytes(len(data))} and stays over the service's "
                             f"{_kilobytes(max_bytes)} even when shrunk to {MIN_SIDE} pixels a side: send a "
                             "smaller picture.")
        if figure is not None:
            smaller = _figure_png(figure, dpi=figure.dpi * scale)
        else:
            smaller = _pil_bytes(_open_with_pil(data, source), (new_width, new_height))
            if form == "jpeg":
                smaller = _as_jpeg(smaller)
        read = image_size(smaller)
        if read and len(smaller) <= max_bytes:
            return Picture(smaller, read[0], read[1], read[2], source, original_size=(width, height))


def _open_with_pil(data: bytes, source: str):
    try:
        from PIL import Image
    except ImportError:
        raise ImageError(f"The {source} is over the service's limit, and shrinking it needs Pillow: "
                         "pip install pillow, or send a smaller picture.") from None
    return Image.open(io.BytesIO(data))


def _as_jpeg(png: bytes) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
