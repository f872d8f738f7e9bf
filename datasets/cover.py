"""A dataset's cover image. Kaggle crops the uploaded image at fixed places (the
client's `_upload_dataset_image_file`: a 560×280 header at the top left, a 280×280
thumbnail 140 pixels in), so Wharf stores the image already fitted to 560×280: both crops
then show what the researcher previewed. The stored file is always Pillow's re-encoding
(PNG, no metadata), never the uploaded bytes, so nothing unsanitised is served back."""

import io

from django.core.files.base import ContentFile

HEADER = (560, 280)
THUMBNAIL_BOX = (140, 0, 420, 280)  # left, top, right, bottom within the header
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"PNG", "JPEG", "WEBP"}
KAGGLE_NAME = "dataset-cover-image.png"  # a name the client looks for beside the metadata
TOO_MANY_PIXELS = "The image has too many pixels; use a smaller one."


class CoverError(ValueError):
    """An image Wharf refuses; the message says why, for a person."""


def cover_check_size(size: int) -> None:
    """Refuses an image over MAX_BYTES; callers that know a request's length ask early,
    before its body is read."""
    if size > MAX_BYTES:
        raise CoverError(f"The image is larger than {MAX_BYTES // (1024 * 1024)} MB.")


def cover_sanitise(uploaded) -> ContentFile:
    """Checks an uploaded image (type, size, dimensions) and returns its sanitised
    560×280 PNG."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    cover_check_size(uploaded.size)
    data = uploaded.read()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind, (width, height) = probe.format, probe.size
            if width * height > MAX_PIXELS:
                raise CoverError(TOO_MANY_PIXELS)
            probe.verify()  # a truncated or corrupt file fails here
        if kind not in FORMATS:
            raise CoverError(f"Use a PNG, JPEG or WebP image (this one is {kind or 'unknown'}).")
        if width < HEADER[0] or height < HEADER[1]:
            raise CoverError(
                f"The image is {width}×{height}; Kaggle needs at least "
                f"{HEADER[0]}×{HEADER[1]} pixels."
            )
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            fitted = ImageOps.fit(image, HEADER, method=Image.Resampling.LANCZOS)
    except Image.DecompressionBombError:  # Pillow's own limit, far above MAX_PIXELS
        raise CoverError(TOO_MANY_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise CoverError("That file is not an image Wharf can read (PNG, JPEG or WebP).") from None
    out = io.BytesIO()
    fitted.save(out, format="PNG", optimize=True)
    return ContentFile(out.getvalue(), name="cover.png")


def cover_crop(png: bytes, which: str) -> bytes:
    """The header (the whole fitted image) or the thumbnail, as Kaggle will show them."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image.load()
        part = image if which == "header" else image.crop(THUMBNAIL_BOX)
        out = io.BytesIO()
        part.save(out, format="PNG")
    return out.getvalue()
