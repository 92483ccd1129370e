"""Options on the command line and in config files, checked against their one declaration."""

from __future__ import annotations

import math
import re

import pytest

from conftest import tone, write_wav
from sonicdreams.cli import main
from sonicdreams.errors import SettingsError
from sonicdreams.settings import RenderSettings, default_of, is_flag, option_fields


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("sonicdreams: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# -- start and duration: finite, and at most a week of audio ------------------------------------

@pytest.mark.parametrize("command", ["analyze", "render"])
@pytest.mark.parametrize(("flag", "value"), [
    ("--duration", "1e308"), ("--duration", "nan"), ("--duration", "inf"),
    ("--duration", "1e20"), ("--start", "1e308"), ("--start", "nan"), ("--start", "-inf"),
])
def test_huge_or_non_finite_times_are_a_one_line_error(command, flag, value, excerpt, tmp_path,
                                                        monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [command, str(excerpt), f"{flag}={value}"]
    if command == "render":
        argv += ["-o", "video.mp4", "--style", "cppn", "--size", "64x64"]
    err = _one_line_error(capsys, main(argv))
    name = flag[2:]
    assert f"{name}=" in err and "604800" in err  # names the option and the allowed range
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(("name", "value"), [("duration", 1e308), ("duration", math.inf),
                                             ("start", 1e308), ("start", math.nan)])
def test_settings_refuse_huge_or_non_finite_times(name, value):
    with pytest.raises(SettingsError, match=f"{name}="):
        RenderSettings(**{name: value})


def test_the_longest_allowed_duration_still_means_to_the_end(capsys, excerpt):
    assert main(["analyze", str(excerpt), "--duration", "604800"]) == 0
    assert "0:30.00" in capsys.readouterr().out


@pytest.mark.parametrize("arg", ["--audio-bitrate=inf", "--speed-fpm=1" + "0" * 400,
                                 "--class-shuffle-seconds=1,1" + "0" * 400])
def test_values_too_large_for_a_float_are_a_one_line_error(arg, capsys):
    err = _one_line_error(capsys, main(["render", "song.mp3", arg, "--dump-config"]))
    assert arg[2:].split("=")[0].replace("-", "_") + "=" in err


# -- config files ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    ("flash_strenght = 0.6\n",
     "--config look.toml: unknown option 'flash_strenght'; did you mean flash_strength?"),
    ("[sonicdreams]\nflash-strenght = 0.6\n",
     "--config look.toml: unknown option 'flash-strenght'; did you mean flash_strength?"),
    ("speed_fpm = -1\n", "--config look.toml: speed_fpm=-1 must be a number >= 0"),
    ("sonicdreams = 3\n", "--config look.toml: [sonicdreams] must be a table of options"),
    ("speed_fpm = \n", "--config look.toml: not valid TOML"),
    (b"# caf\xe9\nspeed_fpm = 6\n", "--config look.toml: not a UTF-8 text file"),
])
def test_bad_config_file_is_a_one_line_error_naming_it(content, message, excerpt, tmp_path,
                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "look.toml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content, encoding="utf-8")
    err = _one_line_error(capsys, main(["render", str(excerpt), "--config", "look.toml",
                                        "-o", "video.mp4"]))
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["look.toml"]


def test_a_folder_or_missing_file_as_config(excerpt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "looks").mkdir()
    err = _one_line_error(capsys, main(["render", str(excerpt), "--config", "looks"]))
    assert "--config looks: is a folder" in err
    err = _one_line_error(capsys, main(["render", str(excerpt), "--config", "gone.toml"]))
    assert "--config gone.toml: no such file" in err
    assert [p.name for p in tmp_path.iterdir()] == ["looks"]


def test_config_table_dashes_and_flags_on_top(excerpt, tmp_path, capsys):
    config = tmp_path / "look.toml"
    config.write_text("[sonicdreams]\nflash-strength = 0.6\nspeed_fpm = 6\n", encoding="utf-8")
    assert main(["render", str(excerpt), "--config", str(config), "--speed-fpm", "7",
                 "--dump-config"]) == 0
    out = capsys.readouterr().out
    assert "flash_strength = 0.6" in out and "speed_fpm = 7.0" in out


# -- commas: only list options split ---------------------------------------------------------------

@pytest.fixture()
def comma_wav(tmp_path):
    return write_wav(tmp_path / "my,song.wav", tone(440, sr=22050, duration_s=2.0), 22050)


def test_a_comma_in_a_file_name_is_part_of_it(comma_wav, capsys):
    path = str(comma_wav)
    code = main(["render", path, "--pulse-audio", path, "--output-audio", path,
                 "--style", "my,style.pkl", "--dump-config"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f'pulse_audio = "{path}"' in printed.out
    assert f'output_audio = "{path}"' in printed.out
    assert 'style = "my,style.pkl"' in printed.out


def test_a_file_named_like_a_number_stays_a_file_name(capsys):
    assert main(["render", "song.mp3", "--pulse-audio", "2024", "--style", "7",
                 "--dump-config"]) == 0
    out = capsys.readouterr().out
    assert 'pulse_audio = "2024"' in out and 'style = "7"' in out


def test_analyze_a_song_with_a_comma_in_its_name(comma_wav, capsys):
    path = str(comma_wav)
    code = main(["analyze", path, "--pulse-audio", path])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"song:      {path}\n" in printed.out


def test_list_options_still_split_on_commas(capsys):
    assert main(["render", "song.mp3", "--classes", "1,2,3", "--class-shuffle-seconds", "9,1,5",
                 "--dump-config"]) == 0
    out = capsys.readouterr().out
    assert "classes = [1, 2, 3]" in out and "class_shuffle_seconds = [1.0, 5.0, 9.0]" in out
    assert {f.name for f in option_fields() if f.metadata["is_list"]} == {
        "classes", "class_shuffle_seconds"}


# -- --help: each default once, ranges from the validators ----------------------------------------

_SPAN = re.compile(r"(?P<open>[\[(])(?P<lo>[-\d.e+k*]+), (?P<hi>[-\d.e+k*]+)(?P<close>[\])])"
                   r"|(?P<op>>=|>) (?P<bound>[-\d.e+k]+)")


def _num(text: str) -> float:
    """A bound as written in a span: 0.5, 604800, 16k, 2**63 (exact where it is an integer)."""
    if text.endswith("k"):
        return int(float(text[:-1]) * 1000)
    if "**" in text:
        base, power = text.split("**")
        return int(base) ** int(power)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _help_blocks(text: str) -> dict[str, str]:
    """``--flag`` → its help text (wrapped lines joined) from ``render --help``."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"  (--[a-z-]+)(?:, --no-[a-z-]+)?(?: \S+)?(?:\s+(.*))?$", line)
        if match:
            current = match.group(1)
            blocks[current] = match.group(2) or ""
        elif current and line.startswith("     "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {flag: " ".join(help_.split()) for flag, help_ in blocks.items()}


def _accepts(check, name, value) -> bool:
    try:
        check(name, value)
    except SettingsError:
        return False
    return True


def _is_numeric(f) -> bool:
    if is_flag(f):
        return False
    return any(_accepts(f.metadata["check"], f.name, v) for v in (0, 0.5, 1, 16, 1000, 192_000))


@pytest.mark.parametrize("command", ["render", "analyze"])
def test_help_states_each_default_once_and_the_validators_range(command, capsys):
    assert main([command, "--help"]) == 0
    blocks = _help_blocks(capsys.readouterr().out)
    shown_options = [f for f in option_fields()
                     if "--" + f.name.replace("_", "-") in blocks]
    with_flags = [f for f in option_fields() if f.metadata["cli"]]
    assert len(shown_options) == (len(with_flags) - 2 if command == "render" else 6)
    for f in shown_options:
        flag = "--" + f.name.replace("_", "-")
        help_ = blocks[flag]
        # (the look named "default" is the one option whose value is the word)
        assert help_.replace("default: default", "default: X").count("default") == 1, (
            flag, help_)
        assert not re.search(r"\d\s*-\s*\d", f.metadata["help"]), (
            f"{f.name}: a range written by hand in the help text; the validator states it")
        shown = help_.split("default: ", 1)[1].rstrip(")")
        default = default_of(f)
        if isinstance(default, bool):
            assert shown == str(default).lower(), (flag, shown)
        elif isinstance(default, str):
            assert shown == default, (flag, shown)
        elif default is not None:
            assert _num(shown) == default, (flag, shown)
        check = f.metadata["check"]
        spans = list(_SPAN.finditer(help_))
        if not _is_numeric(f):
            assert not spans, (flag, help_)
            continue
        if _accepts(check, f.name, -1e9) and _accepts(check, f.name, 1e9):
            continue  # unbounded: no range to state
        assert len(spans) == 1, (flag, help_)
        span = spans[0]
        integer = not _accepts(check, f.name, 0.5) and not _accepts(check, f.name, 1.5)
        eps = 1 if integer else 1e-3
        if span["op"]:
            lo, lo_open = _num(span["bound"]), span["op"] == ">"
        else:
            lo, lo_open, hi = _num(span["lo"]), span["open"] == "(", _num(span["hi"])
            if span["close"] == "]":
                assert _accepts(check, f.name, hi), (flag, help_)
            else:
                assert not _accepts(check, f.name, hi), (flag, help_)
                assert _accepts(check, f.name, hi - eps), (flag, help_)
            assert not _accepts(check, f.name, hi + eps), (flag, help_)
        assert _accepts(check, f.name, lo) != lo_open, (flag, help_)
        assert _accepts(check, f.name, lo + eps), (flag, help_)
        assert not _accepts(check, f.name, lo - eps), (flag, help_)
    if command == "render":
        width = next(f for f in option_fields() if f.name == "width")
        assert blocks["--size"].count("default") == 1
        assert f"range: {width.metadata['span']};" in blocks["--size"]


def test_help_and_docs_name_no_default_inside_the_help_text():
    for f in option_fields():
        assert "default" not in f.metadata["help"].lower(), f.name
