"""QR codes of deep links, drawn server-side as SVG (no image library, no script)."""

from __future__ import annotations

import qrcode
import qrcode.image.svg


def svg(data: str) -> str:
    """A QR code of `data` on a white background; scales to whatever size the page gives it."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    return image.to_string(encoding="unicode")
