"""Media links as Telegram can fetch them.

Telegram downloads a media URL itself and refuses an HTML page ("wrong type of the web page
content"). Real courses of the old bot link Google Drive *share pages*
(`drive.google.com/file/d/<id>/view`, `open?id=<id>`), which are HTML; the old bot sent them as
Drive's direct download instead, and so do we (DESIGN §12). Every other link goes out as written.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

_DRIVE_HOSTS = frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"})
# The old bot's own pattern for a Drive file id, in every form its courses used.
_DRIVE_FILE_ID = re.compile(r"(?:id=|/d/|download\?id=)([-\w]+)")
_DIRECT_DOWNLOAD = "https://drive.usercontent.google.com/download?id={}&export=download"


@lru_cache(maxsize=4096)
def fetchable_url(url: str) -> str:
    """The URL Telegram should fetch for a course's media link: a Drive share page becomes
    the file's direct download; anything else is returned unchanged."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return url
    if host not in _DRIVE_HOSTS:
        return url
    match = _DRIVE_FILE_ID.search(url)
    if match is None:  # a Drive folder or a search page: nothing to download
        return url
    return _DIRECT_DOWNLOAD.format(match.group(1))
