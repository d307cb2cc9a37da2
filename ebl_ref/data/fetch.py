"""Downloads: the only code of the package that touches the network.

A file is downloaded from the first mirror that gives a verified copy (checksums as in
:mod:`.verify`), written under a temporary name and renamed into place only once verified
(:func:`ebl_ref.atomic.atomic_write_bytes`), so no half-downloaded or unverified file ever
carries the final name. Tests replace :func:`fetch_url` with a stub.
"""

from __future__ import annotations

import http.client
import shutil
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from ..atomic import atomic_write_bytes
from .errors import DataError
from .registry import FileSpec
from .verify import CHUNK, check_file


def fetch_url(url: str, f: BinaryIO, timeout: float = 60.0) -> None:
    """Copy the body of ``url`` into the open binary file ``f``."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        shutil.copyfileobj(r, f, CHUNK)


def download_file(fspec: FileSpec, base_urls: Sequence[str], folder: Path,
                  log: Callable[[str], None]) -> Path:
    """Download ``fspec`` into ``folder`` (which must exist) from the first mirror that works.

    ``log`` receives one line per URL tried.

    Returns
    -------
    Path of the verified file, ``folder / fspec.name``.

    Raises
    ------
    DataError
        If every mirror fails; the message lists each URL tried and its error.
    """
    dest = Path(folder) / fspec.name
    failures = []
    for base in base_urls:
        url = base + fspec.name

        def write(f, url=url):
            fetch_url(url, f)
            f.flush()
            check_file(Path(f.name), fspec)  # f.name: the temporary file

        try:
            log(f"downloading {url}")
            atomic_write_bytes(dest, write)
            return dest
        except (OSError, DataError, ValueError, http.client.HTTPException) as e:
            failures.append(f"{url} ({type(e).__name__}: {e})")
    raise DataError("download failed for every mirror:\n  " + "\n  ".join(failures))
