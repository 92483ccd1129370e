"""The StyleGAN catalogue: every Lucid Sonic Dreams style name, sane records, CLI listing."""

from __future__ import annotations

import re

import pytest

from sonicdreams.cli import main
from sonicdreams.generators import catalog as cat
from sonicdreams.generators.styles import catalog_entry, list_catalog, list_styles

# The names exactly as the two lists spell them (LSD lower-cased them).
SG1_NAMES = [
    "LSUN Bedrooms", "LSUN Cars", "LSUN Cats", "CelebA HQ Faces", "FFHQ Faces", "Pokemon",
    "Anime Faces", "Anime Portraits", "WikiArt Faces", "Abstract Photos", "Vases", "Fireworks",
    "Ukiyo-e Faces", "Butterflies",
]
SG2_NAMES = [
    "car (config-e)", "car (config-f)", "cat", "church", "faces (FFHQ config-e)",
    "faces (FFHQ config-e 256x256)", "faces (FFHQ config-f)", "faces (FFHQ config-f 512x512)",
    "horse", "Imagenet", "WikiArt", "Anime portraits", "microscope images", "wildlife",
    "modern art", "trypophobia", "Abstract art", "Maps", "cakes", "CIFAR 10", "CIFAR 100",
    "faces (FFHQ slim 256x256)", "obama", "grumpy cat", "panda", "fursona", "my little pony",
    "painting faces", "ukiyoe faces", "beetles", "textures", "more abstract art", "flowers",
    "Doors", "floor plans", "figure drawings",
]


def test_the_lists_have_their_full_length():
    assert len(SG1_NAMES) == 14 and len(SG2_NAMES) == 36
    # LSD printed the set of lower-cased names: 'anime portraits' is in both lists.
    assert sorted(cat.lsd_names()) == sorted({n.lower() for n in SG1_NAMES + SG2_NAMES})


@pytest.mark.parametrize("name", SG1_NAMES + SG2_NAMES)
def test_every_lsd_name_resolves_in_any_case(name):
    record = catalog_entry(name.lower())  # what LSD users typed
    assert record is not None
    assert catalog_entry(name) is record and catalog_entry(name.upper()) is record
    assert catalog_entry(f"  {name.lower()} ") is record
    assert record.name == name.lower()


def test_duplicate_name_keeps_lsd_first_match_and_the_other_stays_reachable():
    first = catalog_entry("anime portraits")
    assert first.origin == "awesome-pretrained-stylegan" and first.arch == "sg1"
    second = catalog_entry("Anime Portraits (StyleGAN2)")
    assert second.origin == "awesome-pretrained-stylegan2" and second.arch == "sg2"
    assert second.url != first.url


def test_lsd_default_style_is_the_conditional_wikiart():
    record = catalog_entry("wikiart")
    assert record.conditional and record.format == "tf-sg2"
    assert record.url.startswith("https://archive.org/")
    assert catalog_entry("wikiart faces").name == "wikiart faces"  # a different model


def test_every_record_is_complete_and_safe():
    records = list_catalog()
    assert len(records) >= 50 + 20
    for r in records:
        for url in r.urls:
            assert url.startswith("https://"), (r.name, url)
            assert "cloudfront.net" not in url, r.name
        assert r.licence.strip() and r.author.strip() and r.source_url.startswith("http")
        h, w = r.resolution
        assert isinstance(h, int) and isinstance(w, int) and h >= 32 and w >= 32
        assert re.fullmatch(r"~?\d+x\d+", r.resolution_text)
        assert r.host == cat.host_kind(r.url), r.name
        assert r.format in ("tf-sg1", "tf-sg2", "pt-nvlabs", "rosinality", "unknown")
        assert r.arch in ("sg1", "sg2", "sg3-t", "sg3-r")
        assert r.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", r.sha256)


def test_names_and_cache_files_are_unique():
    records = list_catalog()
    assert len({r.name for r in records}) == len(records)
    assert len({r.filename for r in records}) == len(records)
    for r in records:  # the slug is an accepted spelling (no quoting needed in a shell)
        assert catalog_entry(cat.slug(r.name)) is r


def test_nvidia_originals_point_at_the_live_cdn():
    for stem in ("car-config-e", "car-config-f", "cat-config-f", "church-config-f",
                 "ffhq-config-e", "ffhq-config-f", "horse-config-f"):
        urls = [r.url for r in list_catalog() if r.url.endswith(f"stylegan2-{stem}.pkl")]
        assert urls == [f"https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-{stem}.pkl"]


def test_official_pytorch_pickles_are_listed():
    sg3 = catalog_entry("stylegan3-r-afhqv2-512x512")
    assert (sg3.arch, sg3.format, sg3.resolution) == ("sg3-r", "pt-nvlabs", (512, 512))
    assert sg3.url.startswith("https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/")
    assert catalog_entry("stylegan3-t-ffhq-1024x1024").arch == "sg3-t"
    cifar = catalog_entry("stylegan2-cifar10-32x32")
    assert cifar.conditional and cifar.resolution == (32, 32)
    assert catalog_entry("stylegan2-ada-ffhq").url == \
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl"
    n_sg3 = sum(r.arch.startswith("sg3") for r in list_catalog())
    assert n_sg3 == 12


def test_hosts_that_need_a_browser_are_marked():
    assert catalog_entry("abstract photos").host == "mega"
    assert catalog_entry("doors").host == "yadisk"
    assert catalog_entry("pokemon").host == "dropbox"
    assert catalog_entry("ffhq faces").host == "gdrive"


def test_unknown_names_and_builtins_are_not_in_the_catalogue():
    assert catalog_entry("no such style") is None
    assert catalog_entry("cppn") is None
    assert catalog_entry(None) is None  # type: ignore[arg-type]


def test_styles_command_lists_builtins_then_the_catalogue(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path))
    (tmp_path / catalog_entry("cakes").filename).write_bytes(b"\x80\x04.")
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    builtins = list_styles()
    for info, line in zip(builtins, lines, strict=False):  # the built-in format is unchanged
        assert line.split()[:2] == [info.name, info.kind]
    assert lines[0].endswith("(default)")
    rows = {}
    for line in lines[len(builtins):]:
        for r in list_catalog():
            if line.startswith(r.name + "  "):
                rows[r.name] = line
    assert set(rows) == {r.name for r in list_catalog()}
    for r in list_catalog():
        assert r.licence in rows[r.name] and r.resolution_text in rows[r.name]
    assert " cached " in rows["cakes"] and " download " in rows["cat"]
    assert " manual " in rows["abstract photos"]
    assert "~1024x1024" in rows["wikiart"] and "conditional" in rows["wikiart"]


@pytest.mark.parametrize(("name", "message"), [("wikiartt", "did you mean wikiart"),
                                                ("cppn", "built-in"),
                                                ("zzzzzz", "sonicdreams styles")])
def test_download_of_an_unknown_name_exits_2_with_one_line(name, message, capsys):
    assert main(["download", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sonicdreams: error:") and err.count("\n") == 1
    assert message in err and "Traceback" not in err


def test_download_of_a_manual_host_explains_what_to_do(capsys, tmp_path):
    assert main(["download", "Abstract Photos", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mega.nz" in err and "--style /path/to/file.pkl" in err
    assert not list(tmp_path.iterdir())


def test_checksums_and_sizes_are_well_formed_where_filled():
    for record in cat.catalog():
        assert record.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", record.sha256), record
        assert record.size is None or (isinstance(record.size, int) and record.size > 0), record
    raw = dict(name="x", url="https://example.org/x.pkl", host="http", format="tf-sg2",
               arch="sg2", resolution=[8, 8], conditional=False, licence="", author="",
               source_url="")
    assert cat._record(dict(raw, sha256="ab" * 32, size=123)).size == 123
    with pytest.raises(ValueError, match="sha256"):
        cat._record(dict(raw, sha256="not a hash"))
    with pytest.raises(ValueError, match="size"):
        cat._record(dict(raw, size=-1))
