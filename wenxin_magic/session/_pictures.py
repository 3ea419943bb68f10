"""Pictures in a conversation: the question's content array, the check that the model sees images, the label that
stands for a picture wherever a turn is shown, and the log's form of a turn (each image once, by its hash).

A picture's base64 lives only in the request that is sent and in the conversation's memory; history, exports, the
log's searchable columns and the panel show ``[image W×H]`` instead.
"""

from __future__ import annotations

import base64
import binascii

from ..api import V2_MODELS, InvalidRequestError, Route
from ..images import Picture, image_size, picture_of

LOGGED_IMAGE = "wenxin-image:"  # a logged request's image URL: the hash of a row of the log's images table
_HEADER_CHARS = 4096  # base64 characters decoded to read a PNG's size; a JPEG's header may need the whole


def as_pictures(values) -> tuple[Picture, ...]:
    """``values`` (one picture or a list of them) as Pictures within the service's limits; ImageError otherwise."""
    if values is None:
        return ()
    if not isinstance(values, (list, tuple)):
        values = [values]
    return tuple(value if isinstance(value, Picture) else picture_of(value) for value in values)


def vision_models() -> list[str]:
    return [spec.id for spec in V2_MODELS if "image" in spec.vision]


def sees_images(chosen: Route) -> bool:
    """Whether the routed model reads images, by its catalog row (a v2 id the catalog does not know: the service
    judges, so yes)."""
    return chosen.api == "v2" and chosen.spec is not None and "image" in getattr(chosen.spec, "vision", ())


def check_vision(chosen: Route, count: int) -> None:
    """Refuse, before anything is sent, pictures for a model whose catalog row reads no images (or a v1 model)."""
    if sees_images(chosen):
        return
    what = "a picture" if count == 1 else f"{count} pictures"
    reason = "a v1 model reads text only" if chosen.api == "v1" else "its catalog row lists no image input"
    raise InvalidRequestError(f"{chosen.model} cannot see images ({reason}), so {what} cannot be sent to it; nothing "
                              f"was sent. Ask a vision model with -m: {', '.join(vision_models())}.",
                              field="images", allowed=", ".join(vision_models()), model=chosen.model)


def request_with_pictures(prompt: str, pictures: tuple[Picture, ...]) -> dict:
    """The user's message: the prompt as a text part, then one image_url part per picture."""
    return {"role": "user", "content": [{"type": "text", "text": prompt}, *(p.part() for p in pictures)]}


def picture_notes(pictures: tuple[Picture, ...]) -> list[str]:
    """What the reply says about pictures that were shrunk to fit the service's limits."""
    return [f"The picture ({picture.describe()}) was downscaled to fit the service's 10 MB." for picture in pictures
            if picture.downscaled]


# -- what stands for a picture --------------------------------------------------------------------------

def _url_of(part: dict) -> str:
    source = part.get("image_url")
    url = source.get("url") if isinstance(source, dict) else source
    return url if isinstance(url, str) else ""


def data_of(url: str, whole: bool = True) -> bytes | None:
    """The bytes of a ``data:`` URL (or its beginning), None for anything else."""
    if not url.startswith("data:") or "," not in url:
        return None
    encoded = url.partition(",")[2]
    if not whole:
        encoded = encoded[:_HEADER_CHARS]
        encoded = encoded[:len(encoded) - len(encoded) % 4]
    try:
        return base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        return None


def part_label(part: dict) -> str:
    """``[image 640×480]`` for an image part; an http(s) image by its address; a logged one by its size."""
    url = _url_of(part)
    if part.get("label"):
        return str(part["label"])
    data = data_of(url, whole=False)
    size = image_size(data) if data else None
    if size is None and data is not None:
        whole = data_of(url)
        size = image_size(whole) if whole else None
    if size is not None:
        return f"[image {size[1]}×{size[2]}]"
    if url.startswith(("http://", "https://")):
        return f"[image {url}]"
    return "[image]"


def message_text(message: dict) -> str:
    """A message's words, each picture in it as ``[image W×H]``: what is shown and searched, never base64."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return "" if content is None else str(content)
    pieces = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            pieces.append(str(part.get("text") or ""))
        elif part.get("type") in ("image_url", "logged_image"):
            pieces.append(part_label(part))
    return "\n".join(piece for piece in pieces if piece)


def shown_request(message: dict) -> dict:
    """``message`` for an export: each picture a part ``{"type": "image", "label", "format", "sha256"}``."""
    if not has_pictures(message):
        return message
    parts = []
    for part in message["content"]:
        data = data_of(_url_of(part)) if isinstance(part, dict) and part.get("type") == "image_url" else None
        size = image_size(data) if data else None
        if size is None:
            parts.append(part)
            continue
        picture = Picture(data, size[0], size[1], size[2], "export")
        parts.append({"type": "image", "label": part_label(part), "format": size[0], "sha256": picture.sha256})
    return {**message, "content": parts}


def text_only(messages: list[dict]) -> list[dict]:
    """The history for a model that cannot see images: each earlier question with pictures as its words and
    ``[image W×H]`` labels, so a conversation can go on with a text model after a picture was discussed."""
    return [{**m, "content": message_text(m)} if has_pictures(m) else m for m in messages]


def has_pictures(message: dict) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content)


# -- the log's form ---------------------------------------------------------------------------------------

def for_log(request: dict, keep: bool) -> tuple[dict, list[tuple[str, str, int, int, bytes]]]:
    """``request`` as the log stores it, and the images to store beside it (sha256, format, width, height, bytes).

    Each image part's data URL becomes ``wenxin-image:<sha256>``; with ``keep`` off, a text part with its label
    (nothing of the picture is written). An http(s) image is kept as its address."""
    if not has_pictures(request):
        return request, []
    parts, images = [], []
    for part in request["content"]:
        url = _url_of(part) if isinstance(part, dict) and part.get("type") == "image_url" else ""
        data = data_of(url) if url else None
        size = image_size(data) if data else None
        if size is None:
            parts.append(part)
            continue
        label = f"[image {size[1]}×{size[2]}]"
        if not keep:
            parts.append({"type": "text", "text": f"{label} (not logged)"})
            continue
        picture = Picture(data, size[0], size[1], size[2], "logged")
        images.append((picture.sha256, size[0], size[1], size[2], data))
        parts.append({"type": "image_url", "image_url": {"url": LOGGED_IMAGE + picture.sha256}, "label": label})
    return {**request, "content": parts}, images


def logged_hashes(request: dict) -> list[str]:
    content = request.get("content") if isinstance(request, dict) else None
    if not isinstance(content, list):
        return []
    return [_url_of(p)[len(LOGGED_IMAGE):] for p in content
            if isinstance(p, dict) and _url_of(p).startswith(LOGGED_IMAGE)]


def from_log(request: dict, images: dict[str, tuple[str, bytes]]) -> dict:
    """A logged request with its pictures again, as data URLs; a picture missing from the log becomes its label."""
    hashes = logged_hashes(request)
    if not hashes:
        return request
    parts = []
    for part in request["content"]:
        url = _url_of(part) if isinstance(part, dict) else ""
        if not url.startswith(LOGGED_IMAGE):
            parts.append(part)
            continue
        found = images.get(url[len(LOGGED_IMAGE):])
        if found is None:
            parts.append({"type": "text", "text": f"{part.get('label') or '[image]'} (not in the log)"})
            continue
        form, data = found
        picture = Picture(data, form, None, None, "logged")
        parts.append({"type": "image_url", "image_url": {"url": picture.data_url}})
    return {**request, "content": parts}
