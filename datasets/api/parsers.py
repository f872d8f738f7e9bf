"""Request bodies the API reads besides JSON and forms."""

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.parsers import BaseParser, DataAndFiles

from datasets import cover


class ImageParser(BaseParser):
    """A raw image body (`Content-Type: image/png`, `image/jpeg`, `image/webp`), as
    `curl --data-binary @cover.png` sends it, read as the file `image`. At most one byte
    past the cover's limit is read, so datasets.cover refuses an oversized body by its
    size without the rest of it ever being held."""

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(cover.MAX_BYTES + 1) if stream is not None else b""
        kind = (media_type or "").split(";")[0].strip()
        image = SimpleUploadedFile("cover", data, content_type=kind)
        return DataAndFiles({}, {"image": image})
