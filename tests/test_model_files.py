"""Weight files are checked from their structure before anything unpickles them.

Each fault is a real file on disk: cut short, with a bad CRC, with sizes that lie (sparse 2 GB
files whose headers declare more than they hold), or asking to run code. The checker must say
which it is on one line, refuse without reading the declared gigabytes into memory, and never
run anything from the file.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from _formats import sg2_tf_networks, tiny_sg2, write_nvlabs_pickle, write_rosinality
from _tf_pickle import write_tf_pickle
from sonicdreams.errors import ModelFormatError, UnsafeModelError
from sonicdreams.generators.stylegan.loaders import read_weights
from sonicdreams.generators.verify import TruncatedFileError, verify_model_file

SRC = Path(__file__).resolve().parent.parent / "src"
GiB = 1 << 30


def _refusal(path, what: str = "os.system") -> str:
    return f"{path}: refused: the file asks to run {what} — it is not a model; nothing was executed"


# ---------------------------------------------------------------------------------------------
# Complete files of every format, and the same files cut short


def _write(fmt: str, path: Path) -> Path:
    G = tiny_sg2(res=16)
    if fmt == "nvlabs":
        write_nvlabs_pickle(path, G)
    elif fmt.startswith("tf"):
        write_tf_pickle(path, sg2_tf_networks(G), protocol=2 if fmt == "tf-protocol2" else 4)
    elif fmt.startswith("rosinality"):
        write_rosinality(path, G, legacy_format=fmt.endswith("legacy"))
    else:
        torch.save(G.state_dict(), path)
    return path


_KINDS = {"nvlabs": "pickle", "tf": "pickle", "tf-protocol2": "pickle",
          "rosinality": "torch-zip", "rosinality-legacy": "torch-legacy",
          "state-dict": "torch-zip"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    return {fmt: _write(fmt, folder / f"{fmt}.bin") for fmt in _KINDS}


@pytest.mark.parametrize("fmt", list(_KINDS))
def test_every_complete_format_verifies(files, fmt):
    assert verify_model_file(files[fmt]) == _KINDS[fmt]
    read_weights(files[fmt])  # and still loads


@pytest.mark.parametrize("fmt", list(_KINDS))
def test_a_file_cut_anywhere_is_named_truncated(files, fmt, tmp_path):
    data = files[fmt].read_bytes()
    path = tmp_path / "cut.bin"
    for cut in (12, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError) as info:
            read_weights(path)
        message = str(info.value)
        assert message.startswith(f"{path} is truncated: ") and message.endswith(
            "; download it again"), (cut, message)
        assert "\n" not in message and "weights_only" not in message


def test_a_truncated_pickle_says_how_much_it_declares(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2_000_000_000) + b"\0" * 12_334)
    with pytest.raises(ModelFormatError) as info:
        read_weights(path)
    assert str(info.value) == (
        f"{path} is truncated: the pickle ends before its STOP opcode "
        "(12,345 of 2,000,000,011 declared bytes); download it again")


def test_a_zip_with_a_bad_crc_is_damaged_not_truncated(files, tmp_path):
    data = bytearray(files["rosinality"].read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = next(i for i in zf.infolist() if "/data/" in i.filename and i.file_size > 64)
    at = info.header_offset
    name_len, extra_len = struct.unpack("<2H", data[at + 26:at + 30])  # the local header's own
    data[at + 30 + name_len + extra_len + 10] ^= 0xFF
    path = tmp_path / "crc.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError) as caught:
        read_weights(path)
    assert str(caught.value) == (f"{path} is damaged: zip entry {info.filename} fails its CRC "
                                 "check; download it again")
    assert not isinstance(caught.value, TruncatedFileError)


def test_a_zip_without_its_central_directory_is_truncated(files, tmp_path):
    data = files["state-dict"].read_bytes()
    path = tmp_path / "cut.pt"
    directory = struct.unpack("<4s4H2LH", data[-22:])[6]  # the directory's offset
    path.write_bytes(data[:directory])  # every entry, no directory
    with pytest.raises(ModelFormatError, match=rf"{path} is truncated: .*central directory"):
        read_weights(path)


def test_a_legacy_storage_whose_size_header_lies_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(5)}, path, _use_new_zipfile_serialization=False)
    data = bytearray(path.read_bytes())
    at = len(data) - 4 * 5 - 8  # the one storage: its element count, then 5 float32
    assert struct.unpack("<q", data[at:at + 8]) == (5,)
    data[at:at + 8] = struct.pack("<q", 1 << 40)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=rf"{path} is damaged: tensor storage .* declares "
                                               r"5 elements, but its data says 1,099,511,627,776"):
        read_weights(path)


@pytest.mark.parametrize("protocol", [2, 4])  # raw bytes, or latin-1 text through _codecs
def test_a_numpy_array_must_hold_the_bytes_its_shape_declares(tmp_path, protocol):
    class _Lying(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.ndarray):
                from numpy._core.multiarray import _reconstruct

                state = (1, (1000,), obj.dtype, False, obj.tobytes())
                return _reconstruct, (np.ndarray, (0,), b"b"), state
            return NotImplemented

    path = tmp_path / "numpy.pkl"
    with open(path, "wb") as f:
        _Lying(f, protocol=protocol).dump({"w": np.zeros(4, np.float32)})
    with pytest.raises(ModelFormatError, match=r"is damaged: a numpy array of shape \(1000,\) "
                                               r"\(float32\) needs 4,000 bytes but holds 16"):
        read_weights(path)


@pytest.mark.parametrize("data,error,text", [
    (b"\x80\x04h\x07.", ModelFormatError, " is damaged: the pickle refers to object #7, which it "
                                          "never stored"),
    (b"\x80\x04R.", ModelFormatError, " is damaged: the pickle takes more objects than it holds "
                                     "at byte 2 (REDUCE)"),
    (b"\x80\x04\x00", ModelFormatError, " is damaged: byte 2 is not a pickle opcode (0x00)"),
    (b"\x80\x06N.", ModelFormatError, " is damaged: pickle protocol 6 does not exist"),
    (b"\x80\x05\x97.", ModelFormatError, " is damaged: the pickle uses out-of-band buffers"),
    (b"\x80\x02X\x01\x00\x00\x000Q.", ModelFormatError, " is damaged: a plain weight pickle "
                                                   "never refers to external objects"),
    (b"\x80\x02\x82\x05.", UnsafeModelError, ": refused: the file asks to run copyreg.extension"),
    (b"\x80\x02(S'touch {marker}'\nios\nsystem\n.", UnsafeModelError,
     ": refused: the file asks to run os.system — it is not a model; nothing was executed"),
    (b"\x80\x02cbuiltins\neval\n.", UnsafeModelError, ": refused: the file asks to run eval —"),
    (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N.", TruncatedFileError,
     " is truncated: the pickle ends before its STOP opcode (13 of 27 declared bytes)"),
], ids=["memo", "underflow", "opcode", "protocol", "buffers", "persistent-id", "extension",
        "inst", "eval", "frame"])
def test_hand_made_pickles_are_judged_by_their_structure(tmp_path, data, error, text):
    marker = tmp_path / "pwned"
    path = tmp_path / "hand.pkl"
    path.write_bytes(data.replace(b"{marker}", str(marker).encode()))
    with pytest.raises(error) as info:
        verify_model_file(path)
    assert str(info.value).startswith(f"{path}{text}")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Sizes that lie: refused before anything of that size is read (peak memory of a child process)


def _zip(path: Path, entries: list[tuple[str, bytes | int]], *, cd_size: int | None = None) -> Path:
    """A stored zip; an ``int`` entry is that many zero bytes left as a hole (a sparse file)."""
    directory = b""
    with open(path, "wb") as f:
        for name, data in entries:
            offset, raw = f.tell(), name.encode()
            n = data if isinstance(data, int) else len(data)
            crc = 0 if isinstance(data, int) else zipfile.crc32(data)
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 33, crc, n, n,
                                len(raw), 0) + raw)
            f.seek(n, 1) if isinstance(data, int) else f.write(data)
            directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 33, crc, n,
                                     n, len(raw), 0, 0, 0, 0, 0, offset) + raw
        start = f.tell()
        f.write(directory)
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                            cd_size if cd_size is not None else len(directory), start, 0))
    return path


def _torch_data_pkl(numel: int) -> bytes:
    """The ``data.pkl`` of a one-tensor ``torch.save`` whose storage ``0`` declares ``numel``."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(7)}, buffer)
    with zipfile.ZipFile(buffer) as zf:
        data = zf.read("archive/data.pkl")
    assert data.count(b"K\x07t") == 1  # BININT1 7, TUPLE: the storage's element count
    return data.replace(b"K\x07t", b"\x8a\x05" + numel.to_bytes(5, "little") + b"t")


def _sparse_files(folder: Path) -> dict[str, Path]:
    files = {}

    def sparse(name: str, head: bytes, size: int = 2 * GiB, tail: bytes = b"") -> None:
        with open(folder / name, "wb") as f:
            f.write(head)
            f.truncate(size - len(tail))
            f.seek(0, 2)
            f.write(tail)
        files[name] = folder / name

    sparse("binbytes8-huge.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40))
    sparse("binunicode8-huge.pkl", b"\x80\x04\x8d" + struct.pack("<Q", 1 << 40))
    sparse("binbytes8-whole-file.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 2 * GiB - 11))
    sparse("frame-whole-file.pkl", b"\x80\x04\x95" + struct.pack("<Q", 2 * GiB - 11))
    small = _zip(folder / "entry-past-end.pt", [("archive/data.pkl", _torch_data_pkl(7)),
                                                ("archive/data/0", bytes(28))])
    data = bytearray(small.read_bytes())
    entry = data.rindex(b"PK\x01\x02")  # the directory entry of data/0: it claims 2 GiB
    data[entry + 20:entry + 28] = struct.pack("<2L", 2 * GiB, 2 * GiB)
    small.write_bytes(bytes(data))
    files[small.name] = small
    files["storage-short.pt"] = _zip(folder / "storage-short.pt", [
        ("archive/data.pkl", _torch_data_pkl(GiB)),  # 4 GiB of float32 declared
        ("archive/data/0", 2 * GiB)])  # 2 GiB there (a hole)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 2 * GiB - 100, 0, 0)
    sparse("directory-huge.pt", b"PK\x03\x04", tail=eocd)
    return files


_CHILD = r"""
import json, sys
from sonicdreams.generators.stylegan.loaders import read_weights

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

for path in sys.argv[1:]:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    before = status("VmRSS")
    try:
        read_weights(path)
        error = message = ""
    except Exception as exc:
        error, message = type(exc).__name__, str(exc)
    print(json.dumps(dict(path=path, growth=status("VmHWM") - before, error=error,
                          message=message)), flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_sparse_2gb_files_whose_sizes_lie_are_refused_in_little_memory(tmp_path):
    files = _sparse_files(tmp_path)
    run = subprocess.run([sys.executable, "-c", _CHILD, *map(str, files.values())],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=str(SRC)))
    assert run.returncode == 0, run.stderr
    results = {Path(r["path"]).name: r for r in map(json.loads, run.stdout.splitlines())}
    expected = {
        "binbytes8-huge.pkl": "is truncated: the pickle ends before its STOP opcode",
        "binunicode8-huge.pkl": "is truncated: the pickle ends before its STOP opcode",
        "binbytes8-whole-file.pkl": "is truncated: the pickle ends before its STOP opcode",
        "frame-whole-file.pkl": "is damaged: byte 11 is not a pickle opcode (0x00)",
        "entry-past-end.pt": "is damaged: zip entry archive/data/0 declares 2,147,483,648 bytes",
        "storage-short.pt": "is damaged: tensor storage archive/data/0 holds 2,147,483,648 bytes "
                            "but data.pkl declares 4,294,967,296",
        "directory-huge.pt": "is damaged: its zip central directory declares 2,147,483,548 bytes",
    }
    for name, text in expected.items():
        result = results[name]
        assert result["error"] == "ModelFormatError" or result["error"] == "TruncatedFileError", \
            result
        assert result["message"].startswith(f"{files[name]} {text}"), result
        assert result["growth"] < 48 * 2**20, result  # the declared 2 GiB were never read


# ---------------------------------------------------------------------------------------------
# Files that ask to run code: the message says what it is, and nothing runs


class _Payload:
    """Pickles as a call to ``func(*args)``: what a malicious weight file contains."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _EmbeddedStorage:
    """Pickles as NVlabs storages do: ``torch.storage._load_from_bytes(<a torch.save file>)``."""

    def __init__(self, inner: bytes) -> None:
        self.inner = inner

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.inner,)


def _evil(kind: str, path: Path, marker: Path) -> Path:
    payload = _Payload(os.system, f"touch {marker}")
    if kind.startswith("pickle-protocol"):
        path.write_bytes(pickle.dumps({"G_ema": payload}, protocol=int(kind[-1])))
    elif kind == "torch-zip":
        torch.save({"g_ema": {}, "x": payload}, path)
    elif kind == "torch-legacy":
        torch.save({"g_ema": {}, "x": payload}, path, _use_new_zipfile_serialization=False)
    elif kind == "storage-in-nvlabs-pickle":
        inner = io.BytesIO()
        torch.save(payload, inner, _use_new_zipfile_serialization=False)
        path.write_bytes(pickle.dumps({"G_ema": _EmbeddedStorage(inner.getvalue())}, protocol=4))
    return path


_EVIL = ["pickle-protocol2", "pickle-protocol4", "pickle-protocol5", "torch-zip", "torch-legacy",
         "storage-in-nvlabs-pickle"]


@pytest.mark.parametrize("kind", _EVIL)
def test_a_file_that_asks_to_run_code_is_called_what_it_is(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = _evil(kind, tmp_path / "model.pkl", marker)
    with pytest.raises(UnsafeModelError) as info:
        read_weights(path)
    assert str(info.value) == _refusal(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch-zip", "storage-in-nvlabs-pickle"])
def test_torch_refusals_are_reworded_without_its_advice(tmp_path, kind):
    # Behind the structure check, torch's own refusal suggests weights_only=False; ours never.
    from sonicdreams.generators.stylegan import loaders, unpickle

    marker = tmp_path / "pwned"
    path = _evil(kind, tmp_path / "model.pt", marker)
    with pytest.raises(UnsafeModelError) as info:
        if kind == "torch-zip":
            loaders._from_torch_file(path)
        else:
            with open(path, "rb") as f:
                loaders._unpickle(f, path)
    assert str(info.value) == _refusal(path)
    assert "weights_only" not in str(info.value) and not marker.exists()
    with pytest.raises(UnsafeModelError, match="posix.system|os.system"):
        unpickle.SafeUnpickler(io.BytesIO(pickle.dumps(_Payload(os.system, "true")))).load()


def test_no_message_suggests_disabling_safety():
    for file in (SRC / "sonicdreams").rglob("*.py"):
        text = file.read_text(encoding="utf-8")
        assert "weights_only=False" not in text, file


def test_the_checker_and_the_unpickler_allow_the_same_globals():
    from sonicdreams.generators.stylegan.unpickle import SafeUnpickler
    from sonicdreams.generators.verify import PICKLE_GLOBALS

    unpickler = SafeUnpickler(io.BytesIO(b""))
    for module, name in PICKLE_GLOBALS:
        assert unpickler.find_class(module, name) is not None


def test_checking_and_downloading_do_not_import_torch():
    code = ("import sys; import sonicdreams.generators.download, sonicdreams.generators.verify;"
            "sys.exit('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(SRC)))
    assert run.returncode == 0


def test_cli_render_refuses_a_malicious_style_in_one_line(tmp_path, excerpt):
    marker = tmp_path / "pwned"
    path = _evil("pickle-protocol4", tmp_path / "model.pkl", marker)
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                          str(tmp_path / "v.mp4"), "--style", str(path), "--duration", "1"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)))
    assert run.returncode == 2
    assert run.stderr == f"sonicdreams: error: {_refusal(path)}\n"
    assert not marker.exists() and not (tmp_path / "v.mp4").exists()
