"""Small real images for upload tests."""

from __future__ import annotations

import io

from PIL import Image

PORTRAIT_GPS_LATITUDE = ((48, 1), (51, 1), (30, 1))


def jpeg(size: tuple[int, int] = (120, 80), color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png(size: tuple[int, int] = (120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_with_gps_and_rotation(size: tuple[int, int] = (120, 80)) -> bytes:
    """Orientation=6 (rotate 90° clockwise to view) and a GPS position, as phones write."""
    image = Image.new("RGB", size, "navy")
    exif = Image.Exif()
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 30.0)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()
