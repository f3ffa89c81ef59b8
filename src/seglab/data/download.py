"""Download and extract the official archives, with checksums, resume and progress.

Offline, a download fails within seconds with a message that says what to do
instead (copy the archive in by hand, or use the built-in data).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm


@dataclasses.dataclass(frozen=True)
class Archive:
    """One official archive: where it lives and what it must hash to."""

    url: str
    md5: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


ARCHIVES: dict[str, tuple[Archive, ...]] = {
    "voc": (
        Archive(
            "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
            "VOCtrainval_11-May-2012.tar",
            "6cd6e144f989b92b3379bac3b3de84fd",
        ),
    ),
    "pets": (
        Archive(
            "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
            "5c4f3ee8e5d25df40f4fd59a7f44e54c",
        ),
        Archive(
            "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
            "95a8c909bbe2e81eed6a22bccdf3f68f",
        ),
    ),
}
CHUNK = 1 << 20


class DownloadError(Exception):
    """A download or extraction failed; the message says what to do."""


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(archive: Archive, folder: Path, *, timeout: float = 10.0) -> Path:
    """Download ``archive`` into ``folder``, resuming a ``.part`` file; verify MD5."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.filename
    if target.is_file() and md5sum(target) == archive.md5:
        return target
    partial = target.with_name(target.name + ".part")
    start = partial.stat().st_size if partial.is_file() else 0
    if start and md5sum(partial) == archive.md5:  # finished, but not renamed
        os.replace(partial, target)
        return target
    request = urllib.request.Request(archive.url)
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not start:
            raise DownloadError(
                f"{archive.url} answered HTTP {error.code} ({error.reason})"
            ) from error
        # 416: the .part file is as long as the archive (or longer) but does
        # not match its MD5; asking for more cannot help
        partial.unlink()
        raise DownloadError(
            f"{partial} was as long as {archive.filename} or longer but its MD5 "
            "did not match; it was removed, run the command again"
        ) from error
    except (TimeoutError, urllib.error.URLError, OSError) as error:
        raise DownloadError(
            f"cannot reach {archive.url} ({getattr(error, 'reason', error)}). "
            f"Without a network, copy {archive.filename} into {folder} by hand "
            "and run the command again, or use the built-in data "
            "(`seglab data synth ...`, SEGLAB_PROFILE=quick)."
        ) from error
    with response:
        resumed = start and response.status == 206
        total = response.length
        mode = "ab" if resumed else "wb"
        initial = start if resumed else 0
        with (
            open(partial, mode) as handle,
            tqdm(
                total=(total + initial) if total else None,
                initial=initial,
                unit="B",
                unit_scale=True,
                desc=archive.filename,
            ) as bar,
        ):
            for block in iter(lambda: response.read(CHUNK), b""):
                handle.write(block)
                bar.update(len(block))
    digest = md5sum(partial)
    if digest != archive.md5:
        partial.unlink()
        raise DownloadError(
            f"{archive.filename}: MD5 {digest} does not match {archive.md5}; the "
            "partial file was removed, run the command again"
        )
    os.replace(partial, target)
    return target


def extract(path: Path, folder: Path) -> None:
    """Extract a tar archive safely (no absolute paths or links outside)."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        for member in tqdm(members, desc=f"extracting {path.name}", unit="file"):
            tar.extract(member, folder, filter="data")


def download(dataset: str, folder: str | os.PathLike, *, keep: bool = True) -> Path:
    """Download and extract ``voc`` or ``pets`` into ``folder``; returns it.

    VOC lands in ``folder/VOCdevkit/VOC2012``; Pets in ``folder/images`` and
    ``folder/annotations``.
    """
    if dataset not in ARCHIVES:
        raise ValueError(
            f"dataset must be one of {', '.join(ARCHIVES)}, got {dataset!r}"
        )
    folder = Path(folder).expanduser()
    cache = folder / "archives"
    for archive in ARCHIVES[dataset]:
        path = fetch(archive, cache)
        extract(path, folder)
    if not keep:
        shutil.rmtree(cache, ignore_errors=True)
    return folder
