"""Pictures from the notebook as images a vision model is sent: what is read, what is shrunk, what is refused."""

from __future__ import annotations

import base64
import io
import struct

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from IPython.display import Image as IPythonImage  # noqa: E402
from PIL import Image  # noqa: E402

from wenxin_magic.images import MAX_URL_BYTES, ImageError, image_size, is_picture, picture_of  # noqa: E402


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """A picture that compresses badly, so that its size in bytes follows its size in pixels."""
    import random

    rng = random.Random(7)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), bytes(rng.getrandbits(8) for _ in range(width * height * 3))).save(
        buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def figure():
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    ax.plot([1, 2, 3], [3, 1, 2])
    yield fig
    plt.close(fig)


def test_the_size_is_read_from_png_and_jpeg_headers():
    assert image_size(png(37, 11)) == ("png", 37, 11)
    assert image_size(jpeg(123, 45)) == ("jpeg", 123, 45)
    assert image_size(b"GIF89a....") is None and image_size(b"") is None


def test_a_jpeg_with_an_exif_segment_before_its_frame_is_read():
    data = jpeg(64, 48)
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 10) + b"Exif\x00\x00abcd"
    assert image_size(data[:2] + exif + data[2:]) == ("jpeg", 64, 48)


def test_a_figure_is_sent_as_the_png_it_draws(figure):
    picture = picture_of(figure)
    assert (picture.format, picture.width, picture.height) == ("png", 640, 360)
    assert not picture.downscaled and picture.source == "matplotlib figure"
    part = picture.part()
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(part["image_url"]["url"].split(",", 1)[1]) == picture.data


def test_a_pil_image_an_ipython_image_bytes_and_a_path(tmp_path):
    assert picture_of(Image.new("RGB", (20, 10))).width == 20
    assert picture_of(Image.new("CMYK", (20, 10))).format == "png"  # modes PNG cannot hold are converted
    assert picture_of(IPythonImage(data=png(30, 8))).height == 8
    assert picture_of(jpeg(40, 30)).format == "jpeg"
    path = tmp_path / "chart.jpg"
    path.write_bytes(jpeg(50, 60))
    picture = picture_of(str(path))
    assert (picture.format, picture.width, picture.source) == ("jpeg", 50, "chart.jpg")
    assert picture.part("high")["image_url"]["detail"] == "high"


def test_a_url_is_sent_as_it_is_within_its_length():
    picture = picture_of("https://example.com/a.png")
    assert picture.part()["image_url"]["url"] == "https://example.com/a.png" and picture.data is None
    with pytest.raises(ImageError, match=f"at most {MAX_URL_BYTES:,} bytes"):
        picture_of("https://example.com/" + "a" * MAX_URL_BYTES)


def test_a_large_picture_is_downscaled_until_it_fits_and_says_so():
    data = noise_png(400, 300)
    picture = picture_of(data, max_bytes=len(data) // 3)
    assert picture.downscaled and picture.original_size == (400, 300)
    assert len(picture.data) <= len(data) // 3 and picture.width < 400 and picture.height < 300
    assert abs(picture.width / picture.height - 400 / 300) < 0.05
    assert "downscaled from 400×300" in picture.describe()


def test_a_large_jpeg_stays_a_jpeg_when_shrunk():
    import random

    rng = random.Random(3)
    image = Image.frombytes("RGB", (300, 200), bytes(rng.getrandbits(8) for _ in range(300 * 200 * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    picture = picture_of(data, max_bytes=len(data) // 2)
    assert picture.format == "jpeg" and picture.downscaled and len(picture.data) <= len(data) // 2


def test_a_figure_is_drawn_again_at_a_lower_dpi_when_too_large(figure):
    whole = picture_of(figure)
    picture = picture_of(figure, max_bytes=len(whole.data) // 2)
    assert picture.downscaled and picture.width < 640 and len(picture.data) <= len(whole.data) // 2


@pytest.mark.parametrize("value, words", [
    ("/no/such/picture.png", "There is no file"),
    (b"plain bytes", "not a picture"),
    (42, "int is not a picture"),
    (png(4, 100), "at least 5 pixels"),
])
def test_what_cannot_be_sent_is_named_with_what_is_allowed(value, words):
    with pytest.raises(ImageError, match=words) as caught:
        picture_of(value)
    assert "PNG" in str(caught.value) or "pixels" in str(caught.value)


def test_a_file_that_is_not_an_image_or_a_folder_is_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match="'notes.png' is not a PNG or JPEG image"):
        picture_of(text)
    with pytest.raises(ImageError, match="is not a file"):
        picture_of(tmp_path)


def test_a_picture_that_cannot_shrink_enough_is_refused():
    with pytest.raises(ImageError, match="stays over the service's"):
        picture_of(noise_png(60, 60), max_bytes=10)


def test_is_picture_knows_pictures_without_importing_their_libraries(figure):
    assert is_picture(figure) and is_picture(Image.new("RGB", (5, 5))) and is_picture(png(5, 5))
    assert not is_picture("a string") and not is_picture(b"text") and not is_picture([1, 2])


def test_loading_the_module_imports_no_image_library():
    import subprocess
    import sys

    code = ("import sys, wenxin_magic.images; "
            "print(sorted(m for m in ('PIL', 'matplotlib', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
