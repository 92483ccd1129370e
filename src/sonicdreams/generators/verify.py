"""Is a weight file complete, and harmless? Answered from its structure alone, streaming.

Nothing here imports torch or builds anything from the file; downloads use it before they
record a file's SHA-256, and the loaders before they unpickle it:

* A pickle must parse opcode by opcode to its STOP. Every length it declares (bytes, strings,
  frames) must fit in the bytes that follow; large arguments are seeked over, never read, so a
  header that declares 2 GB costs nothing. Every global it names must be on the allow-list of
  the loader that will read it.
* A ``torch.save`` zip: its end record and central directory are sane, every entry lies inside
  the file, ``data.pkl`` parses as above, each tensor storage ``data/KEY`` holds the element
  count × element size that ``data.pkl`` declares for it, and every entry passes its CRC.
* A legacy ``torch.save`` file (pickles followed by raw storages, also embedded in NVlabs
  pickles once per tensor): each storage's size header matches its declaration and its bytes
  are there. A numpy array in a TensorFlow pickle holds exactly shape × item size bytes.
"""

from __future__ import annotations

import os
import pickletools
import re
import struct
import zipfile
from math import prod
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

from ..errors import ModelFormatError, UnsafeModelError

__all__ = ["verify_model_file", "TruncatedFileError", "ModelKind", "PICKLE_GLOBALS",
           "unsafe_detail"]

ModelKind: TypeAlias = Literal["pickle", "torch-zip", "torch-legacy"]


class TruncatedFileError(ModelFormatError):
    """The file ends before its own structure does: a download cut short."""


#: The globals a plain weight pickle may name (TF and NVlabs pickles); what
#: :class:`~sonicdreams.generators.stylegan.unpickle.SafeUnpickler` resolves.
PICKLE_GLOBALS = frozenset({
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "slice"), ("builtins", "complex"), ("__builtin__", "set"),
    ("_codecs", "encode"), ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("torch_utils.persistence", "_reconstruct_persistent_obj"), ("dnnlib.util", "EasyDict"),
    ("dnnlib", "EasyDict"), ("dnnlib.tflib.network", "Network"), ("tfutil", "Network"),
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch.storage", "_load_from_bytes"), ("torch", "Size"),
    *(("torch", t) for t in ("float32", "float16", "bfloat16", "float64", "int64", "int32",
                             "uint8", "bool")),
})

# What torch.load(weights_only=True) reads in a torch.save file (named, never imported here),
# plus argparse.Namespace, which the loaders allow for rosinality checkpoints.
_TORCH_GLOBALS = frozenset({
    ("collections", "OrderedDict"), ("collections", "Counter"), ("builtins", "set"),
    ("builtins", "complex"), ("builtins", "bytearray"), ("_codecs", "encode"),
    ("argparse", "Namespace"), ("torch", "Size"), ("torch", "Tensor"), ("torch", "device"),
    ("torch.nn.parameter", "Parameter"), ("torch.serialization", "_get_layout"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.storage", "TypedStorage"), ("torch.storage", "UntypedStorage"),
})
_TORCH_NAME = re.compile(r"\w+Storage|\w+Tensor|u?int([1-7]|8|16|32|64)|float\d+(_\w+)?|"
                         r"bfloat16|complex(32|64|128)|c?half|c?float|c?double|long|int|short|"
                         r"bool|q(u?int8|int32|uint4x2|uint2x4)|bits\w+|per_(tensor|channel)_\w+")
_ELEMENT_SIZES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4,
                  "Short": 2, "Char": 1, "Byte": 1, "Bool": 1, "ComplexDouble": 16,
                  "ComplexFloat": 8, "QInt32": 4}  # any other storage: at least 1 byte each
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_SMALL = 256  # text arguments up to this size are read (names, keys); larger ones skipped
_LINE = 4096  # the longest text line a protocol-0 opcode may have
_MAX_OBJECTS = 1_000_000  # far more than any network; keeps a crafted file's cost bounded
_MAX_DIRECTORY = 64 << 20  # a torch zip with a million tensors has a smaller directory
_ADVICE = "download it again"


def unsafe_detail(module: str, name: str) -> str:
    """What to say about a file that names ``module.name``: it is not a model."""
    module = {"posix": "os", "nt": "os", "builtins": "", "__builtin__": ""}.get(module, module)
    what = f"{module}.{name}" if module else name
    return f"refused: the file asks to run {what} — it is not a model; nothing was executed"


class _Problem(Exception):
    """What is wrong with the file; turned into the public error with its name."""

    def __init__(self, kind: Literal["truncated", "damaged", "unsafe"], detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail

    def phrase(self) -> str:
        return self.detail if self.kind == "unsafe" else f"is {self.kind}: {self.detail}"

    def error(self, name: str) -> ModelFormatError:
        if self.kind == "unsafe":
            error: ModelFormatError = UnsafeModelError(f"{name}: {self.detail}")
        else:
            cls = TruncatedFileError if self.kind == "truncated" else ModelFormatError
            error = cls(f"{name} {self.phrase()}; {_ADVICE}")
        error.detail = self.detail  # type: ignore[attr-defined]
        return error


def verify_model_file(path: str | os.PathLike[str], *, name: str | None = None) -> ModelKind:
    """Check that ``path`` is a complete pickle or ``torch.save`` file that asks to run
    nothing outside the loaders' allow-lists; returns its kind.

    Raises
    ------
    TruncatedFileError
        The file ends before its structure does (``ModelFormatError`` subclass).
    ModelFormatError
        It is damaged or not a weight file; the message names it (``name``, default the path).
    UnsafeModelError
        It asks to run code; nothing from it was executed.
    The error's ``detail`` attribute says what is wrong without the name, the kind of fault
    and the advice (for callers that phrase their own message).
    """
    path = Path(path)
    name = name or str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise _Problem("truncated", "the file is empty")
            head = f.read(4)
            if head == b"PK\x03\x04":
                _check_zip(f, size)
                return "torch-zip"
            if head[:1] != b"\x80":
                raise _Problem("damaged", f"it is neither a pickle nor a torch.save zip (it "
                                          f"starts with {head.hex(' ') or 'nothing'})")
            reader = _Reader(f, 0, size)
            if _Walker(reader, torch_rules=False, path=path).walk() == _TORCH_LEGACY_MAGIC:
                _check_legacy(_Reader(f, 0, size), path=None)
                return "torch-legacy"
            return "pickle"
    except _Problem as problem:
        raise problem.error(name) from None
    except OSError as exc:
        raise ModelFormatError(f"{name}: cannot read it ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------------------------
# Reading within bounds


class _Reader:
    """Reads ``f`` between ``start`` and ``end``; running past ``end`` is a truncation."""

    def __init__(self, f: IO[bytes], start: int, end: int) -> None:
        self.f, self.pos, self.start, self.end = f, start, start, end
        f.seek(start)

    def need(self, n: int, what: str) -> None:
        if n > self.end - self.pos:
            raise _Problem("truncated", f"{what} ({self.end - self.start:,} of "
                                        f"{self.pos + n - self.start:,} declared bytes)")

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = self.f.read(n)
        if len(data) != n:  # the file shrank while we read it
            raise _Problem("truncated", f"{what} (the file ends at byte {self.pos + len(data):,})")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.f.seek(n, os.SEEK_CUR)
        self.pos += n

    def line(self, what: str) -> bytes:
        data = self.f.readline(min(_LINE, self.end - self.pos))
        self.pos += len(data)
        if not data.endswith(b"\n"):
            kind = "damaged" if len(data) == _LINE else "truncated"
            raise _Problem(kind, f"{what} (a text argument at byte {self.pos:,} has no end)")
        return data[:-1]


# ---------------------------------------------------------------------------------------------
# Pickles: an opcode walker that builds only what the checks need


class _Blob:
    """A bytes or text argument left on disk: where it is and how long."""

    __slots__ = ("offset", "length", "text")

    def __init__(self, offset: int, length: int, text: bool) -> None:
        self.offset, self.length, self.text = offset, length, text


class _Global:
    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _Array:
    """The result of numpy's ``_reconstruct``: an array waiting for its BUILD state."""


class _Dtype:
    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code


class _Encoded:
    """``_codecs.encode(text, 'latin1')``: protocol-2 bytes, UTF-8 length on disk."""

    __slots__ = ("utf8_length",)

    def __init__(self, utf8_length: int) -> None:
        self.utf8_length = utf8_length


_OPAQUE = object()  # any value the checks do not look into
_OPS = {ord(op.code): op for op in pickletools.opcodes}
_FIXED = {"uint1": "<B", "uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q",
          "float8": ">d"}
_LENGTH = {pickletools.TAKEN_FROM_ARGUMENT1: "<B", pickletools.TAKEN_FROM_ARGUMENT4: "<i",
           pickletools.TAKEN_FROM_ARGUMENT4U: "<I", pickletools.TAKEN_FROM_ARGUMENT8U: "<Q"}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_PUSH_ARG = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINSTRING", "SHORT_BINSTRING",
             "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "SHORT_BINUNICODE",
             "BINUNICODE", "BINUNICODE8", "BINFLOAT", "STRING", "UNICODE"}
_FROM_MARK = {"TUPLE", "LIST", "DICT", "FROZENSET", "POP_MARK", "OBJ", "INST", "APPENDS",
              "SETITEMS", "ADDITEMS"}


class _Walker:
    """Runs a pickle's opcodes against a stack of stand-ins, checking as it goes.

    ``torch_rules``: the pickle is read by ``torch.load`` (its allow-list, persistent ids are
    tensor storages, collected in ``storages`` as key → (element size, element count)).
    ``path``: the file, to check storages embedded as bytes (NVlabs pickles) in place.
    """

    def __init__(self, reader: _Reader, *, torch_rules: bool, path: Path | None) -> None:
        self.r, self.torch_rules, self.path = reader, torch_rules, path
        self.storages: dict[str, tuple[int, int]] = {}
        self.objects = 0

    def walk(self) -> Any:
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        while True:
            at = self.r.pos
            if at >= self.r.end:
                raise _Problem("truncated", f"the pickle ends before its STOP opcode (after "
                                            f"{at - self.r.start:,} bytes)")
            code = self.r.read(1, "the pickle ends before its STOP opcode")[0]
            op = _OPS.get(code)
            if op is None:
                raise _Problem("damaged", f"byte {at:,} is not a pickle opcode (0x{code:02x})")
            arg = self._argument(op)
            name = op.name
            try:
                if name == "STOP":
                    return stack.pop()
                if name in _FROM_MARK:
                    items, stack = stack, marks.pop()
                    self._from_mark(name, arg, items, stack)
                elif name == "MARK":
                    marks.append(stack)
                    stack = []
                else:
                    self._step(name, arg, stack, memo, marks)
            except IndexError:
                raise _Problem("damaged", f"the pickle takes more objects than it holds at byte "
                                          f"{at:,} ({name})") from None
            if len(stack) + len(memo) > _MAX_OBJECTS:
                raise _Problem("damaged", f"the pickle holds more than {_MAX_OBJECTS:,} objects, "
                                          "far more than any network")

    def _argument(self, op: pickletools.OpcodeInfo) -> Any:
        a = op.arg
        if a is None:
            return None
        what = "the pickle ends before its STOP opcode"
        if a.name in _FIXED:
            fmt = _FIXED[a.name]
            return struct.unpack(fmt, self.r.read(struct.calcsize(fmt), what))[0]
        if a.n == pickletools.UP_TO_NEWLINE:
            first = self.r.line(what).decode("latin-1")
            if a.name == "stringnl_noescape_pair":
                return first, self.r.line(what).decode("latin-1")
            return first
        fmt = _LENGTH[a.n]
        n = struct.unpack(fmt, self.r.read(struct.calcsize(fmt), what))[0]
        if n < 0:
            raise _Problem("damaged", f"a negative length at byte {self.r.pos:,}")
        if a.name in ("long1", "long4") and n <= _SMALL:
            return int.from_bytes(self.r.read(n, what), "little", signed=True)
        text = a.name.startswith(("unicodestring", "string"))
        if text and n <= _SMALL:
            data = self.r.read(n, what)
            try:
                return data.decode("utf-8" if a.name.startswith("unicode") else "latin-1")
            except UnicodeDecodeError:
                raise _Problem("damaged", f"bad UTF-8 text at byte {self.r.pos - n:,}") from None
        blob = _Blob(self.r.pos, n, text)
        self.r.skip(n, what)
        return blob

    def _step(self, name: str, arg: Any, stack: list, memo: dict, marks: list) -> None:
        push = stack.append
        if name in _PUSH_ARG:
            push(_text_value(name, arg))
        elif name in ("INT", "LONG", "FLOAT"):
            push(_number(name, arg, self.r.pos))
        elif name in _CONSTANTS:
            push(_CONSTANTS[name])
        elif name == "EMPTY_LIST":
            push([])
        elif name in ("EMPTY_DICT", "EMPTY_SET"):
            push(_OPAQUE)
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            push(tuple(_pop(stack, int(name[-1]))))
        elif name == "APPEND":
            value = stack.pop()
            if isinstance(stack[-1], list):
                stack[-1].append(value)
                self._count(1)
        elif name == "SETITEM":
            _pop(stack, 2, keep=1)
        elif name == "POP":
            if stack:
                stack.pop()
            else:  # as pickle does: POP of an empty frame drops the mark
                stack[:] = marks.pop()
        elif name == "DUP":
            push(stack[-1])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            key = _memo_key(arg, self.r.pos)
            if key not in memo:
                raise _Problem("damaged", f"the pickle refers to object #{key}, which it never "
                                          "stored")
            push(memo[key])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[_memo_key(arg, self.r.pos)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name == "GLOBAL":
            push(self._global(*arg))
        elif name == "STACK_GLOBAL":
            qualname, module = stack.pop(), stack.pop()
            if not (isinstance(module, str) and isinstance(qualname, str)):
                raise _Problem("damaged", "a STACK_GLOBAL without a module and name")
            push(self._global(module, qualname))
        elif name == "REDUCE":
            args = stack.pop()
            stack[-1] = self._call(stack[-1], args)
        elif name in ("NEWOBJ", "NEWOBJ_EX"):  # class, arguments[, keywords] → an object
            _pop(stack, 2 if name == "NEWOBJ" else 3)
            push(_OPAQUE)
        elif name == "BUILD":
            state = stack.pop()
            _build(stack[-1], state)
        elif name in ("PERSID", "BINPERSID"):
            push(self._persistent(arg if name == "PERSID" else stack.pop()))
        elif name in ("EXT1", "EXT2", "EXT4"):
            raise _Problem("unsafe", unsafe_detail("copyreg", f"extension #{arg}"))
        elif name == "PROTO":
            if arg > 5:
                raise _Problem("damaged", f"pickle protocol {arg} does not exist")
        elif name == "FRAME":
            self.r.need(arg, "the pickle ends before its STOP opcode")
        else:  # NEXT_BUFFER, READONLY_BUFFER
            raise _Problem("damaged", "the pickle uses out-of-band buffers, which no weight "
                                      "file does")

    def _from_mark(self, name: str, arg: Any, items: list, stack: list) -> None:
        if name == "TUPLE":
            stack.append(tuple(items))
        elif name == "LIST":
            stack.append(items)
        elif name in ("DICT", "FROZENSET", "OBJ"):
            stack.append(_OPAQUE)
        elif name == "INST":
            self._global(*arg)
            stack.append(_OPAQUE)
        elif name == "APPENDS":
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
                self._count(len(items))
        elif name in ("SETITEMS", "ADDITEMS") and not stack:
            raise IndexError
        # POP_MARK: the items are dropped

    def _count(self, n: int) -> None:
        self.objects += n
        if self.objects > _MAX_OBJECTS:
            raise _Problem("damaged", f"the pickle holds more than {_MAX_OBJECTS:,} objects, "
                                      "far more than any network")

    def _global(self, module: str, name: str) -> _Global:
        if not (_torch_allows(module, name) if self.torch_rules
                else (module, name) in PICKLE_GLOBALS):
            raise _Problem("unsafe", unsafe_detail(module, name))
        return _Global(module, name)

    def _call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            return _OPAQUE
        call = (func.module.replace("numpy.core", "numpy._core"), func.name)
        if call == ("torch.storage", "_load_from_bytes") and args and self.path is not None \
                and isinstance(args[0], _Blob):
            self._embedded(args[0])
        elif call == ("numpy._core.multiarray", "_reconstruct"):
            return _Array()
        elif call == ("numpy", "dtype") and args and isinstance(args[0], str):
            return _Dtype(args[0])
        elif call == ("_codecs", "encode") and args:
            text = args[0]
            if isinstance(text, _Blob):
                return _Encoded(text.length)
            if isinstance(text, str):
                return _Encoded(len(text.encode("utf-8")))
        return _OPAQUE

    def _embedded(self, blob: _Blob) -> None:
        """A storage saved as ``torch.save`` bytes inside the pickle: check it in place."""
        assert self.path is not None
        with open(self.path, "rb") as f:
            try:
                _check_legacy(_Reader(f, blob.offset, blob.offset + blob.length), path=None)
            except _Problem as problem:
                if problem.kind == "unsafe":
                    raise
                raise _Problem("damaged", f"the tensor file embedded at byte {blob.offset:,} "
                                          f"{problem.phrase()}") from None

    def _persistent(self, pid: Any) -> Any:
        if not self.torch_rules:
            raise _Problem("damaged", "a plain weight pickle never refers to external objects "
                                      "(persistent ids), but this one does")
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _Global) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and pid[4] >= 0):
            raise _Problem("damaged", "a persistent id that is not a tensor storage")
        kind = pid[1].name.removesuffix("Storage")
        self.storages[pid[2]] = (_ELEMENT_SIZES.get(kind, 1), pid[4])
        return _OPAQUE


def _pop(stack: list, n: int, *, keep: int = 0) -> list:
    """The top ``n`` items, removed; ``keep`` more must stay below them (IndexError if not)."""
    if len(stack) < n + keep:
        raise IndexError
    items = stack[len(stack) - n:]
    del stack[len(stack) - n:]
    return items


def _torch_allows(module: str, name: str) -> bool:
    if (module, name) in _TORCH_GLOBALS:
        return True
    if module == "torch._utils":
        return name.startswith("_rebuild_")
    return module in ("torch", "torch.cuda") and _TORCH_NAME.fullmatch(name) is not None


def _memo_key(arg: Any, at: int) -> int:
    try:
        return int(arg)
    except ValueError:
        raise _Problem("damaged", f"a malformed memo key before byte {at:,}") from None


def _text_value(name: str, arg: Any) -> Any:
    if name == "STRING":  # protocol 0: a quoted repr; only its text matters here
        return arg[1:-1] if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"" else arg
    if name == "UNICODE":
        return arg.encode("latin-1").decode("raw_unicode_escape", "replace")
    return arg


def _number(name: str, text: str, at: int) -> Any:
    try:
        if name == "FLOAT":
            return float(text)
        if name == "INT" and text in ("00", "01"):
            return text == "01"
        return int(text.removesuffix("L"))
    except ValueError:
        raise _Problem("damaged", f"a malformed number before byte {at:,}") from None


_DTYPE_NAMES = {"f": "float", "i": "int", "u": "uint", "c": "complex"}


def _build(obj: Any, state: Any) -> None:
    """numpy's array state ``(version, shape, dtype, fortran, raw)`` must fit its shape."""
    if not (isinstance(obj, _Array) and isinstance(state, tuple) and len(state) == 5):
        return
    _, shape, dtype, _, raw = state
    match = re.fullmatch(r"[<>=|]?([a-zA-Z])(\d+)", dtype.code) if isinstance(dtype, _Dtype) \
        else None
    if not (match and isinstance(shape, tuple) and all(isinstance(n, int) for n in shape)):
        return
    itemsize = int(match.group(2))
    needs = prod(shape) * itemsize
    kind = match.group(1)
    label = "bool" if kind == "b" else f"{_DTYPE_NAMES[kind]}{8 * itemsize}" \
        if kind in _DTYPE_NAMES else dtype.code
    if isinstance(raw, _Blob) and not raw.text:
        fits, holds = raw.length == needs, raw.length
    elif isinstance(raw, _Encoded):  # latin-1 text: each byte is 1 or 2 UTF-8 bytes
        fits, holds = needs <= raw.utf8_length <= 2 * needs, raw.utf8_length
    else:
        return
    if not fits:
        raise _Problem("damaged", f"a numpy array of shape {shape} ({label}) needs {needs:,} "
                                  f"bytes but holds {holds:,}")


# ---------------------------------------------------------------------------------------------
# torch.save files


def _check_legacy(reader: _Reader, *, path: Path | None) -> None:
    """Magic, protocol and system pickles, the object, its storage keys, then each storage:
    an int64 element count and that many elements."""
    walk = _Walker(reader, torch_rules=True, path=path)
    if walk.walk() != _TORCH_LEGACY_MAGIC:
        raise _Problem("damaged", "it is not a torch.save file (no magic number)")
    walk.walk()  # the protocol version
    walk.walk()  # system information
    walk.walk()  # the object, with a persistent id per storage
    keys = walk.walk()
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise _Problem("damaged", "its list of tensor storages is not a list of names")
    for key in keys:
        if key not in walk.storages:
            raise _Problem("damaged", f"tensor storage {key} is listed but never used")
        element_size, numel = walk.storages[key]
        what = f"tensor storage {key} ends early"
        (count,) = struct.unpack("<q", reader.read(8, what))
        if count != numel:
            raise _Problem("damaged", f"tensor storage {key} declares {numel:,} elements, but "
                                      f"its data says {count:,}")
        reader.skip(count * element_size, what)


def _end_of_directory(f: IO[bytes], size: int) -> tuple[int, int, int]:
    """(directory offset, directory size, where the end record starts) from the end record,
    read from the last 64 kB only; zip64 records where the sizes need them."""
    tail_start = max(0, size - (1 << 16) - 22)
    f.seek(tail_start)
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _Problem("truncated", "the zip archive ends before its central directory (no end "
                                    "record)")
    _, _, _, _, _, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    end = tail_start + at
    if 0xFFFFFFFF in (cd_size, cd_offset):
        loc = tail[at - 20:at] if at >= 20 else b""
        if not loc.startswith(b"PK\x06\x07"):
            raise _Problem("damaged", "its zip64 end record is missing")
        record_at = struct.unpack("<4sLQL", loc)[2]
        f.seek(record_at)
        record = f.read(56)
        if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
            raise _Problem("damaged", "its zip64 end record is damaged")
        cd_size, cd_offset = struct.unpack("<4sQ2H2L4Q", record)[6:8]
        end = record_at
    return cd_offset, cd_size, end


def _check_zip(f: IO[bytes], size: int) -> None:
    cd_offset, cd_size, end = _end_of_directory(f, size)
    if cd_size > _MAX_DIRECTORY:
        raise _Problem("damaged", f"its zip central directory declares {cd_size:,} bytes, more "
                                  "than any weight file needs")
    if cd_offset + cd_size > end:
        raise _Problem("damaged", f"its zip central directory declares {cd_size:,} bytes at byte "
                                  f"{cd_offset:,}, which do not fit before its end record")
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise _Problem("damaged", f"its zip central directory is unreadable ({exc})") from None
    with archive:
        entries = archive.infolist()
        for info in entries:
            if info.header_offset + info.compress_size > cd_offset:
                raise _Problem("damaged", f"zip entry {info.filename} declares "
                                          f"{info.compress_size:,} bytes at byte "
                                          f"{info.header_offset:,}, past the end of the data")
            if info.file_size > 1000 * info.compress_size + (1 << 20):
                raise _Problem("damaged", f"zip entry {info.filename} claims to expand "
                                          f"{info.compress_size:,} bytes to {info.file_size:,}")
        pickles = [i for i in entries if i.filename.endswith("/data.pkl")
                   and i.filename.count("/") == 1]
        if len(pickles) != 1:
            raise _Problem("damaged", "it is a zip archive but not a torch.save file (no "
                                      "data.pkl)")
        prefix = pickles[0].filename.removesuffix("data.pkl")
        with archive.open(pickles[0]) as member:
            walker = _Walker(_Reader(member, 0, pickles[0].file_size), torch_rules=True,
                             path=None)
            try:
                walker.walk()
            except _Problem as problem:  # the directory is there: a short data.pkl is damage
                if problem.kind == "truncated":
                    problem.kind = "damaged"
                raise
            except zipfile.BadZipFile as exc:
                raise _Problem("damaged", f"zip entry {pickles[0].filename} is unreadable "
                                          f"({exc})") from None
        by_name = {i.filename: i for i in entries}
        for key, (element_size, numel) in walker.storages.items():
            info = by_name.get(f"{prefix}data/{key}")
            if info is None:
                raise _Problem("damaged", f"tensor storage {prefix}data/{key} is missing")
            if info.file_size < numel * element_size:
                raise _Problem("damaged", f"tensor storage {info.filename} holds "
                                          f"{info.file_size:,} bytes but data.pkl declares "
                                          f"{numel * element_size:,}")
        for info in entries:  # last: the only step that reads every byte
            try:
                with archive.open(info) as member:
                    while member.read(1 << 20):
                        pass
            except zipfile.BadZipFile as exc:
                what = "fails its CRC check" if "CRC" in str(exc) else f"is unreadable ({exc})"
                raise _Problem("damaged", f"zip entry {info.filename} {what}") from None
            except (EOFError, OSError, ValueError) as exc:
                raise _Problem("damaged", f"zip entry {info.filename} is unreadable "
                                          f"({exc or type(exc).__name__})") from None
