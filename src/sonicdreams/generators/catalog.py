"""Named StyleGAN styles: where the weights live, what format they are in, and their licence.

The catalogue covers every style name of the original Lucid Sonic Dreams (LSD) plus NVIDIA's
official PyTorch pickles. LSD built its names at run time from two community lists by Justin
Pinkney, `awesome-pretrained-stylegan <https://github.com/justinpinkney/awesome-pretrained-stylegan>`_
(``models.csv``, StyleGAN1) and `awesome-pretrained-stylegan2
<https://github.com/justinpinkney/awesome-pretrained-stylegan2>`_ (``models.json``): each list
name lower-cased, CSV rows first, the first match winning. We keep those names exactly (and
match them case-insensitively); the one name that is in both lists, ``anime portraits``, is
the StyleGAN1 model as in LSD, and the StyleGAN2 one is ``anime portraits (stylegan2)``.

The records are our own data (names, addresses, resolutions and licences are facts) in
``catalog.json`` next to this module, read on first use. Differences from the lists: NVIDIA's
dead CloudFront links are rewritten to ``nvlabs-fi-cdn.nvidia.com``; resolutions are the
network's output (h, w); the three models the lists give no resolution for carry an estimate
(``resolution_known`` is false). Weights are never shipped with sonicdreams; each model has its
own licence, shown to the user.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Literal, TypeAlias
from urllib.parse import urlparse

__all__ = [
    "StyleRecord",
    "HostKind",
    "WeightFormat",
    "Arch",
    "catalog",
    "lookup",
    "lsd_names",
    "slug",
    "host_kind",
]

HostKind: TypeAlias = Literal["http", "gdrive", "mega", "yadisk", "dropbox"]
WeightFormat: TypeAlias = Literal["tf-sg1", "tf-sg2", "pt-nvlabs", "rosinality", "unknown"]
Arch: TypeAlias = Literal["sg1", "sg2", "sg3-t", "sg3-r"]
Origin: TypeAlias = Literal["awesome-pretrained-stylegan", "awesome-pretrained-stylegan2", "nvidia"]

#: Where LSD's names came from (the lists LSD merged). Used for ``lsd_names()``.
LSD_ORIGINS = ("awesome-pretrained-stylegan", "awesome-pretrained-stylegan2")
_HOST_KINDS = ("http", "gdrive", "mega", "yadisk", "dropbox")
_FORMATS = ("tf-sg1", "tf-sg2", "pt-nvlabs", "rosinality", "unknown")
_ARCHS = ("sg1", "sg2", "sg3-t", "sg3-r")


@dataclass(frozen=True, slots=True)
class StyleRecord:
    """One downloadable StyleGAN style.

    ``resolution`` is the network's output as (h, w). ``sha256`` (hex) and ``size`` (bytes) of
    the weight file are enforced by :mod:`sonicdreams.generators.download` where filled; where
    ``None``, the first verified download's checksum is recorded in the cache and checked on
    every later use (trust on first use).
    """

    name: str
    url: str
    mirrors: tuple[str, ...]
    host: HostKind
    format: WeightFormat
    arch: Arch
    resolution: tuple[int, int]
    conditional: bool
    licence: str
    author: str
    source_url: str
    sha256: str | None = None
    size: int | None = None
    resolution_known: bool = True
    dataset: str = ""
    config: str = ""
    notes: str = ""
    origin: Origin = "nvidia"
    crop: tuple[int, int, int, int] | None = None
    """(top, left, height, width) of the picture inside the network's square output, for
    networks trained on letterboxed images (LSUN cars: 512x384 inside 512x512)."""

    @property
    def urls(self) -> tuple[str, ...]:
        """The main address followed by the mirrors."""
        return (self.url, *self.mirrors)

    @property
    def filename(self) -> str:
        """The file name in the download cache: the slug of the name plus the URL's suffix."""
        suffix = re.search(r"\.(pkl|pt|pth|ckpt|model)$", urlparse(self.url).path.lower())
        return slug(self.name) + (suffix.group(0) if suffix else ".pkl")

    @property
    def resolution_text(self) -> str:
        """``"WxH"``, with a ``~`` in front when the resolution is an estimate."""
        h, w = self.crop[2:] if self.crop else self.resolution
        return f"{'' if self.resolution_known else '~'}{w}x{h}"


def slug(name: str) -> str:
    """``"faces (ffhq config-e)"`` → ``"faces-ffhq-config-e"``: safe as a file name, no quoting."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def host_kind(url: str) -> HostKind:
    """Which kind of host serves ``url``; ``"http"`` for any plain web server."""
    host = (urlparse(url).hostname or "").lower()

    def on(domain: str) -> bool:
        return host == domain or host.endswith("." + domain)

    if on("drive.google.com") or on("drive.usercontent.google.com") or on("docs.google.com"):
        return "gdrive"
    if on("mega.nz") or on("mega.co.nz"):
        return "mega"
    if on("yadi.sk") or on("disk.yandex.ru") or on("disk.yandex.com"):
        return "yadisk"
    if on("dropbox.com"):
        return "dropbox"
    return "http"


def _record(raw: dict) -> StyleRecord:
    fields = dict(raw)
    fields["mirrors"] = tuple(fields.get("mirrors") or ())
    fields["resolution"] = tuple(int(x) for x in fields["resolution"])
    if fields.get("crop") is not None:
        fields["crop"] = tuple(int(x) for x in fields["crop"])
    record = StyleRecord(**fields)
    if record.host not in _HOST_KINDS or record.format not in _FORMATS \
            or record.arch not in _ARCHS:
        raise ValueError(f"catalogue entry {record.name!r} has an unknown host/format/arch")
    if record.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", record.sha256):
        raise ValueError(f"catalogue entry {record.name!r}: sha256 is not 64 lower-case hex")
    if record.size is not None and not (isinstance(record.size, int) and record.size > 0):
        raise ValueError(f"catalogue entry {record.name!r}: size is not a positive byte count")
    return record


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[StyleRecord, ...], dict[str, StyleRecord]]:
    text = files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    records = tuple(_record(raw) for raw in json.loads(text)["styles"])
    index: dict[str, StyleRecord] = {}
    for record in records:  # the name first, then its slug; an earlier record keeps a key
        for key in (_key(record.name), slug(record.name)):
            index.setdefault(key, record)
    return records, index


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def catalog() -> tuple[StyleRecord, ...]:
    """Every catalogue style, in a stable order (the LSD lists first, then NVIDIA's own)."""
    return _load()[0]


def lookup(name: str) -> StyleRecord | None:
    """The style called ``name``, or ``None``.

    Matching ignores case and repeated spaces, so LSD's names (``"abstract photos"``), the
    lists' spelling (``"Abstract Photos"``) and the cache slug (``"abstract-photos"``) all work.
    """
    if not isinstance(name, str):
        return None
    index = _load()[1]
    return index.get(_key(name)) or index.get(slug(name))


def lsd_names() -> list[str]:
    """The names LSD's ``show_styles()`` printed (lower-cased list names, duplicates merged)."""
    names: list[str] = []
    for record in catalog():
        if record.origin in LSD_ORIGINS:
            lsd = record.name.removesuffix(" (stylegan2)")
            if lsd not in names:
                names.append(lsd)
    return names
