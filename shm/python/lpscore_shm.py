"""lpscore_shm - read the lpscore shared-memory scoreboard from Python (standard library only).

The file layout and the seqlock protocol are specified in ``shm/LAYOUT.md`` (layout 1.0); this module
implements that text, like the Rust crate ``lpscore-shm`` and the C header ``shm/include/lpscore.h``.
It is meant for notebooks, scripts and monitoring, not for a router's hot path: one ``read`` costs a
few microseconds of interpreter time, against tens of nanoseconds from C or Rust.

Example (in a notebook)::

    >>> import lpscore_shm                                        # doctest: +SKIP
    >>> sb = lpscore_shm.Scoreboard("/dev/shm/lpscore")           # doctest: +SKIP
    >>> sb.lps(), sb.symbols()                                    # doctest: +SKIP
    (['LP_A', 'LP_B'], ['EURUSD', 'USDJPY'])
    >>> row = sb.read("EURUSD", None, "LP_A")  # None = all sizes  # doctest: +SKIP
    >>> row.fill_rate, row.score[0]                               # doctest: +SKIP
    (0.93, 81.5)
    >>> sb.rank("EURUSD", profile=0)                              # doctest: +SKIP
    [('LP_A', 81.5), ('LP_B', 77.0)]
    >>> sb.staleness()                                            # doctest: +SKIP
    Liveness(kind='live', age_ns=41230512)

Command line: ``python3 lpscore_shm.py PATH`` (or ``python3 -m lpscore_shm PATH`` with this directory
on ``PYTHONPATH``) prints the board as a table; ``--help`` lists the options.

Memory ordering, and why a Python seqlock reader is still correct
-----------------------------------------------------------------
CPython cannot issue memory fences or atomic loads with an ordering. The reader does what the protocol
says with the operations it has:

1. ``s1`` = the row's sequence word, read through a ``memoryview`` cast to native ``'Q'``: indexing
   it is one aligned 8-byte ``memcpy``, which compiles to a single 64-bit load on x86-64 (an aligned
   8-byte load is atomic there). A ``struct`` little-endian ``'<Q'`` unpack would instead assemble the
   word byte by byte, and a torn sequence word could defeat the check, so it is not used for ``seq``.
2. If ``s1`` is odd the writer is inside an update: retry.
3. Copy the 128 bytes of the row (one ``memcpy`` inside the mmap slice operation).
4. ``s2`` = the sequence word again. If ``s1 == s2`` the copy is consistent; otherwise retry (at most
   ``MAX_TRIES`` times, then ``Busy``).

On x86-64 (TSO) loads are not reordered with other loads and stores are not reordered with other
stores, so the writer's ``seq`` odd store -> data stores -> ``seq`` even store become visible in that
order, and the reader's ``s1`` load -> copy loads -> ``s2`` load execute in program order. The
writer's Release fence and the reader's Acquire fence of the protocol compile to nothing on x86-64:
they only constrain the compiler, and the interpreter executes the three steps as separate, opaque C
calls (separate bytecodes), which no compiler can reorder. Therefore, if any byte of the copy came from
an update that started after ``s1`` was read, ``s2`` sees that update's odd (or a later) value and the
copy is discarded; the copy may be torn at any granularity (bytes, vector loads), which does not
matter because a torn copy always fails the check. On weakly ordered CPUs (aarch64) loads may be
reordered with each other and this argument does not hold: the module refuses to read rows there
unless ``LPSCORE_PY_ALLOW_WEAK_MEMORY=1`` is set (use the C or Rust reader instead).
"""

from __future__ import annotations

import mmap
import os
import platform
import struct
import sys
import time
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

__all__ = [
    "Scoreboard",
    "Row",
    "Profile",
    "Liveness",
    "ScoreboardError",
    "Busy",
    "NotReady",
    "LAYOUT_HASH",
    "fnv1a64",
    "ALL",
]

# ------------------------------------------------------------------------------------------------
# Constants of layout 1.0 (shm/LAYOUT.md)
# ------------------------------------------------------------------------------------------------

MAGIC = 0x0045524F4353504C  #: header word 0, the bytes b"LPSCORE\0"
VERSION_MAJOR = 1  #: a file with another major version is refused
VERSION_MINOR = 0
#: fnv1a64 of the layout DESCRIPTOR string of shm/LAYOUT.md; a file with another hash is refused.
LAYOUT_HASH = 0xA267348910D14AED
HEADER_LEN = 512
ROW_STRIDE = 128
NAME_MAX = 16
N_SCORES = 8
MAX_TRIES = 1024  #: seqlock attempts before Busy
DEFAULT_OPEN_TIMEOUT_S = 2.0
DEFAULT_STALE_S = 1.0

STATE_INIT, STATE_READY, STATE_STOPPED, STATE_RETIRED = 0, 1, 2, 3
_STATE_NAMES = {0: "init", 1: "ready", 2: "stopped", 3: "retired"}

ROW_HAS_DATA = 0x1
ROW_LP_PAUSED = 0x2
ROW_NO_PRICE_KPIS = 0x4
LP_IN_USE = 0x1
LP_PAUSED = 0x2
PROFILE_ACTIVE = 0x1

#: Pass as symbol or bucket to address the "all symbols" / "all sizes" slot (``None`` works too).
ALL = None

# header word indexes
_H_MAGIC, _H_VERSION, _H_HASH, _H_FILE_LEN, _H_HEADER_LEN, _H_ROW_STRIDE = 0, 1, 2, 3, 4, 5
_H_MAX_LPS, _H_MAX_SYMBOLS, _H_N_BUCKETS, _H_MAX_PROFILES, _H_SYM_CAP = 6, 7, 8, 9, 10
_H_LP_DIR_OFF, _H_SYM_DIR_OFF, _H_PROFILE_DIR_OFF, _H_ROWS_OFF, _H_N_ROWS = 11, 12, 13, 14, 15
_H_WRITER_PID, _H_EPOCH, _H_STATE, _H_START_WALL_NS = 16, 17, 18, 19
_H_N_LPS, _H_N_SYMBOLS, _H_N_PROFILES, _H_PUBLISH_COUNT = 20, 21, 22, 23
_H_HEARTBEAT_NS = 32
_H_BUCKET_UNIT, _H_BUCKET_UPPER, _H_SCORE_HORIZON_NS = 48, 49, 57

# Row: seq, publish_ns, 8 f32 (eff_orders .. markout_bps), 4 u32 (ack_p50 .. flags), 8 f32 scores,
# 4 f32 (pi_rate .. realized_spread_bps), 4 u32 (n_orders, n_fills, n_price_skipped, reserved).
_ROW = struct.Struct("<QQ8f4I8f4f4I")
assert _ROW.size == ROW_STRIDE
# Profile: seq, name_lo, name_hi, flags, 8 f64 weights, 4 reserved words.
_PROFILE = struct.Struct("<QQQQ8d4Q")
assert _PROFILE.size == ROW_STRIDE

_WEAK_MEMORY = platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86")
_WEAK_MEMORY_ALLOWED = os.environ.get("LPSCORE_PY_ALLOW_WEAK_MEMORY") == "1"


def fnv1a64(data: bytes) -> int:
    """fnv1a64 of ``data`` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).

    >>> hex(fnv1a64(b"EURUSD")) == hex(fnv1a64(bytes("EURUSD", "ascii")))
    True
    >>> fnv1a64(b"")
    14695981039346656037
    """
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# ------------------------------------------------------------------------------------------------
# Errors and records
# ------------------------------------------------------------------------------------------------


class ScoreboardError(Exception):
    """Any failure to open or validate a scoreboard (wrong magic, version, hash, short file, bad
    offsets, writer never READY). ``code`` is a short machine-readable name."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class NotReady(ScoreboardError):
    """The writer did not mark the file READY before the timeout."""


class Busy(ScoreboardError):
    """The writer kept the row busy for ``MAX_TRIES`` seqlock attempts; try again."""


class Row(NamedTuple):
    """One consistent copy of a score row (shm/LAYOUT.md "Row"). ``score[p]`` is the score of
    profile slot ``p`` in [0, 100], NaN when that profile is inactive. ``flags``: bit 0 has data,
    bit 1 LP paused, bit 2 price KPIs unavailable (see ``has_data``)."""

    seq: int
    publish_ns: int
    eff_orders: float
    eff_fills: float
    fill_rate: float
    reject_rate: float
    pi_bps: float
    es_bps: float
    impact_bps: float
    markout_bps: float
    ack_p50_ns: int
    ack_p99_ns: int
    fill_p50_ns: int
    flags: int
    score: Tuple[float, ...]
    pi_rate: float
    eq_ratio: float
    cancel_reject_rate: float
    realized_spread_bps: float
    n_orders: int
    n_fills: int
    n_price_skipped: int

    @property
    def has_data(self) -> bool:
        """True when the writer has published this row at least once."""
        return bool(self.flags & ROW_HAS_DATA)

    @classmethod
    def from_bytes(cls, b: bytes) -> "Row":
        """Decodes 128 row bytes (no consistency check: use ``Scoreboard.read``).

        >>> Row.from_bytes(bytes(128)).has_data
        False
        """
        v = _ROW.unpack(b)
        return cls(*v[0:14], tuple(v[14:22]), *v[22:29])


class Profile(NamedTuple):
    """A scoring profile: its index is the score slot in every row. ``weights`` are, in order:
    latency, fill rate, price improvement, market impact, reject rate, effective spread, markout,
    reserved."""

    index: int
    name: str
    active: bool
    weights: Tuple[float, ...]


class Liveness(NamedTuple):
    """Result of ``Scoreboard.staleness()``. ``kind`` is one of ``'live'``, ``'stale'``,
    ``'stopped'``, ``'retired'`` (reopen the path), ``'restarted'`` (call ``revalidate()``),
    ``'writer_gone'``; ``age_ns`` is the heartbeat age (CLOCK_MONOTONIC)."""

    kind: str
    age_ns: int


def _pack_name(name: Union[str, bytes]) -> Tuple[int, int, bytes]:
    raw = name.encode("utf-8") if isinstance(name, str) else bytes(name)
    if not 1 <= len(raw) <= NAME_MAX or b"\0" in raw:
        raise ValueError(f"a name is 1..16 bytes of UTF-8 without NUL, got {name!r}")
    padded = raw.ljust(NAME_MAX, b"\0")
    lo, hi = struct.unpack("<QQ", padded)
    return lo, hi, raw


def _unpack_name(lo: int, hi: int) -> str:
    return struct.pack("<QQ", lo, hi).rstrip(b"\0").decode("utf-8", "replace")


def _next_pow2(x: int) -> int:
    p = 1
    while p < x:
        p <<= 1
    return p


def _round128(x: int) -> int:
    return (x + 127) & ~127


# ------------------------------------------------------------------------------------------------
# The reader
# ------------------------------------------------------------------------------------------------


class Scoreboard:
    """A scoreboard file mapped read-only (``PROT_READ``, ``MAP_SHARED``).

    Opening waits up to ``timeout`` seconds for the writer to mark the file READY (a RETIRED file is
    reopened by path), then refuses a wrong magic, another major version, another layout hash, a
    short file, or offsets that disagree with the capacities. Use it as a context manager or call
    ``close()``.

    Names or indexes: wherever a symbol is expected you may pass its name, its slot (``int``), or
    ``None`` for "all symbols"; buckets are ``0..n_buckets-1`` or ``None`` for "all sizes"; LPs are
    a name or an index.

    >>> with Scoreboard("/dev/shm/lpscore") as sb:                 # doctest: +SKIP
    ...     print(sb.read("EURUSD", None, "LP_A").fill_rate)
    0.93
    """

    def __init__(self, path: Union[str, os.PathLike], timeout: float = DEFAULT_OPEN_TIMEOUT_S):
        self.path = os.fspath(path)
        self._mm: Optional[mmap.mmap] = None
        self._w = None  # memoryview cast to native u64: single aligned 8-byte loads
        deadline = time.monotonic() + timeout
        while True:
            self._map()
            if self._w[_H_MAGIC] != MAGIC:
                self.close()
                raise ScoreboardError("magic", f"{self.path} is not an lpscore scoreboard")
            state = self._w[_H_STATE]
            while state == STATE_INIT and time.monotonic() < deadline:
                time.sleep(0.001)
                state = self._w[_H_STATE]
            if state in (STATE_READY, STATE_STOPPED):
                break
            self.close()
            if state != STATE_RETIRED or time.monotonic() >= deadline:
                raise NotReady("not_ready", f"{self.path}: writer state {_STATE_NAMES.get(state, state)}")
            time.sleep(0.001)  # RETIRED: the replacement is renamed over the path; reopen
        try:
            self._validate()
        except ScoreboardError:
            self.close()
            raise
        self._fill()

    # -- mapping and validation ------------------------------------------------------------------

    def _map(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_LEN:
                raise ScoreboardError("short", f"{self.path}: {size} bytes, shorter than the header")
            self._mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        finally:
            os.close(fd)  # the mapping keeps the file alive
        self._size = size
        self._w = memoryview(self._mm)[: size - size % 8].cast("Q")

    def _validate(self) -> None:
        w = self._w
        if w[_H_MAGIC] != MAGIC:
            raise ScoreboardError("magic", "wrong magic")
        major = w[_H_VERSION] & 0xFFFFFFFF
        if major != VERSION_MAJOR:
            raise ScoreboardError("version", f"layout major {major}, this reader knows {VERSION_MAJOR}")
        if w[_H_HASH] != LAYOUT_HASH:
            raise ScoreboardError("hash", f"layout hash {w[_H_HASH]:#018x}, this reader has {LAYOUT_HASH:#018x}")
        file_len = w[_H_FILE_LEN]
        if file_len > self._size:
            raise ScoreboardError("short", f"file is {self._size} bytes, header says {file_len}")
        if w[_H_HEADER_LEN] != HEADER_LEN or w[_H_ROW_STRIDE] != ROW_STRIDE:
            raise ScoreboardError("layout", "header_len or row_stride")
        max_lps, max_sym, nb, maxp = w[_H_MAX_LPS], w[_H_MAX_SYMBOLS], w[_H_N_BUCKETS], w[_H_MAX_PROFILES]
        if not (1 <= max_lps <= 256 and 1 <= max_sym <= 1 << 20 and 1 <= nb <= 8 and 1 <= maxp <= 8):
            raise ScoreboardError("layout", "capacities out of range")
        cap = _next_pow2(max(16, 2 * max_sym))
        off = HEADER_LEN
        expect = [(_H_SYM_CAP, cap), (_H_LP_DIR_OFF, off)]
        off += _round128(max_lps * 32)
        expect.append((_H_SYM_DIR_OFF, off))
        off += _round128(cap * 32)
        expect.append((_H_PROFILE_DIR_OFF, off))
        off += maxp * 128
        expect.append((_H_ROWS_OFF, off))
        n_rows = (max_sym + 1) * (nb + 1) * max_lps
        expect.append((_H_N_ROWS, n_rows))
        expect.append((_H_FILE_LEN, off + n_rows * 128))
        for idx, want in expect:
            if w[idx] != want:
                raise ScoreboardError("layout", f"header word {idx} is {w[idx]}, the formulas give {want}")

    def _fill(self) -> None:
        w = self._w
        self.max_lps = w[_H_MAX_LPS]
        self.max_symbols = w[_H_MAX_SYMBOLS]
        self.n_buckets = w[_H_N_BUCKETS]
        self.max_profiles = w[_H_MAX_PROFILES]
        self.sym_table_cap = w[_H_SYM_CAP]
        self.n_rows = w[_H_N_ROWS]
        self.version_minor = w[_H_VERSION] >> 32
        self._lp_w = w[_H_LP_DIR_OFF] // 8
        self._sym_w = w[_H_SYM_DIR_OFF] // 8
        self._prof_w = w[_H_PROFILE_DIR_OFF] // 8
        self._rows_off = w[_H_ROWS_OFF]
        self.epoch_at_open = w[_H_EPOCH]
        #: 0 = order notional in whole USD, 1 = shares
        self.bucket_unit = w[_H_BUCKET_UNIT]
        #: upper bounds of the size buckets (the last is 2**64 - 1)
        self.bucket_upper = tuple(w[_H_BUCKET_UPPER + i] for i in range(self.n_buckets))
        self.score_horizon_ns = w[_H_SCORE_HORIZON_NS]

    def revalidate(self) -> None:
        """After ``staleness()`` says ``'restarted'`` (the writer took the file over in place and
        cleared its directories): re-check the header and adopt the new epoch. Names resolve again
        through ``lp()``/``symbol()`` afterwards (this reader caches no directory)."""
        if self._w[_H_STATE] == STATE_INIT:
            raise NotReady("not_ready", "writer is still initialising")
        self._validate()
        self._fill()

    def close(self) -> None:
        """Unmaps the file. Idempotent. Rows read before stay valid (they are copies)."""
        if self._w is not None:
            self._w.release()
            self._w = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def __enter__(self) -> "Scoreboard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._w is None:
            return f"Scoreboard({self.path!r}, closed)"
        return (
            f"Scoreboard({self.path!r}, lps={self.n_lps}/{self.max_lps}, "
            f"symbols={self.n_symbols}/{self.max_symbols}, buckets={self.n_buckets}, "
            f"profiles={self.n_profiles}/{self.max_profiles}, state={self.state})"
        )

    # -- header ----------------------------------------------------------------------------------

    @property
    def n_lps(self) -> int:
        """Registered LPs (entries ``0..n_lps`` of the LP directory are valid)."""
        return min(self._w[_H_N_LPS], self.max_lps)

    @property
    def n_symbols(self) -> int:
        """Registered symbols."""
        return min(self._w[_H_N_SYMBOLS], self.max_symbols)

    @property
    def n_profiles(self) -> int:
        """Profile entries that exist."""
        return min(self._w[_H_N_PROFILES], self.max_profiles)

    @property
    def state(self) -> str:
        """Writer state: ``'init'``, ``'ready'``, ``'stopped'`` or ``'retired'``."""
        s = self._w[_H_STATE]
        return _STATE_NAMES.get(s, str(s))

    def header(self) -> Dict[str, int]:
        """All header fields as a dict (a monitoring snapshot; words are read one by one)."""
        w = self._w
        names = [
            "magic", "version", "layout_hash", "file_len", "header_len", "row_stride", "max_lps",
            "max_symbols", "n_buckets", "max_profiles", "sym_table_cap", "lp_dir_off", "sym_dir_off",
            "profile_dir_off", "rows_off", "n_rows", "writer_pid", "epoch", "state", "start_wall_ns",
            "n_lps", "n_symbols", "n_profiles", "publish_count",
        ]  # fmt: skip
        h = {n: w[i] for i, n in enumerate(names)}
        h["heartbeat_ns"] = w[_H_HEARTBEAT_NS]
        h["bucket_unit"] = w[_H_BUCKET_UNIT]
        h["score_horizon_ns"] = w[_H_SCORE_HORIZON_NS]
        for i in range(8):
            h[f"bucket_upper{i}"] = w[_H_BUCKET_UPPER + i]
        return h

    # -- directories -----------------------------------------------------------------------------

    def lp(self, name: Union[str, bytes]) -> int:
        """Index of the LP called ``name``; ``KeyError`` if it is not registered.

        >>> sb.lp("LP_A")                                           # doctest: +SKIP
        0
        """
        lo, hi, _ = _pack_name(name)
        w, base = self._w, self._lp_w
        for i in range(self.n_lps):
            e = base + 4 * i
            if w[e + 2] & LP_IN_USE and w[e] == lo and w[e + 1] == hi:
                return i
        raise KeyError(f"LP {name!r} is not registered")

    def lps(self) -> List[str]:
        """Names of the registered LPs, in index order.

        >>> sb.lps()                                                # doctest: +SKIP
        ['LP_A', 'LP_B', 'LP_C']
        """
        w, base = self._w, self._lp_w
        return [_unpack_name(w[base + 4 * i], w[base + 4 * i + 1]) for i in range(self.n_lps)]

    def lp_flags(self, lp: Union[str, int]) -> int:
        """Directory flags of an LP: bit 0 in use, bit 1 scoring paused."""
        i = self._lp_index(lp)
        return self._w[self._lp_w + 4 * i + 2]

    def symbol(self, name: Union[str, bytes]) -> int:
        """Slot of the symbol called ``name`` (open addressing, FNV-1a, linear probing);
        ``KeyError`` if it is not registered.

        >>> sb.symbol("EURUSD")                                     # doctest: +SKIP
        0
        """
        lo, hi, raw = _pack_name(name)
        h = fnv1a64(raw)
        cap = self.sym_table_cap
        mask = cap - 1
        i = h & mask
        w, base = self._w, self._sym_w
        for _ in range(cap):
            e = base + 4 * i
            tag = w[e]
            if tag == 0:
                break
            if w[e + 3] == h and w[e + 1] == lo and w[e + 2] == hi:
                if tag - 1 >= self.max_symbols:
                    raise ScoreboardError("layout", f"symbol tag {tag} out of range")
                return tag - 1
            i = (i + 1) & mask
        raise KeyError(f"symbol {name!r} is not registered")

    def symbols(self) -> List[str]:
        """Names of the registered symbols, in slot order.

        >>> sb.symbols()                                            # doctest: +SKIP
        ['EURUSD', 'USDJPY']
        """
        by_slot: Dict[int, str] = {}
        w, base = self._w, self._sym_w
        for i in range(self.sym_table_cap):
            tag = w[base + 4 * i]
            if tag:
                by_slot[tag - 1] = _unpack_name(w[base + 4 * i + 1], w[base + 4 * i + 2])
        return [by_slot[s] for s in sorted(by_slot)]

    def profiles(self) -> List[Profile]:
        """The scoring profiles (each read through its seqlock).

        >>> [(p.name, p.active) for p in sb.profiles()]            # doctest: +SKIP
        [('default', True), ('passive', False)]
        """
        out = []
        for i in range(self.n_profiles):
            b = self._seq_copy(self._prof_w + 16 * i)
            v = _PROFILE.unpack(b)
            out.append(Profile(i, _unpack_name(v[1], v[2]), bool(v[3] & PROFILE_ACTIVE), tuple(v[4:12])))
        return out

    # -- rows ------------------------------------------------------------------------------------

    def _lp_index(self, lp: Union[str, int]) -> int:
        if isinstance(lp, int):
            if not 0 <= lp < self.max_lps:
                raise IndexError(f"LP index {lp} outside 0..{self.max_lps - 1}")
            return lp
        return self.lp(lp)

    def _sym_slot(self, symbol: Union[str, int, None]) -> int:
        if symbol is None or symbol == "*":
            return self.max_symbols
        if isinstance(symbol, int):
            if not 0 <= symbol <= self.max_symbols:
                raise IndexError(f"symbol slot {symbol} outside 0..{self.max_symbols}")
            return symbol
        return self.symbol(symbol)

    def _bucket_slot(self, bucket: Optional[int]) -> int:
        if bucket is None:
            return self.n_buckets
        if not 0 <= bucket <= self.n_buckets:
            raise IndexError(f"bucket {bucket} outside 0..{self.n_buckets - 1} (None = all sizes)")
        return bucket

    def row_index(self, symbol: Union[str, int, None], bucket: Optional[int], lp: Union[str, int]) -> int:
        """Row index of (symbol, bucket, LP): ``(s * (n_buckets + 1) + b) * max_lps + l``."""
        s, b, l = self._sym_slot(symbol), self._bucket_slot(bucket), self._lp_index(lp)
        return (s * (self.n_buckets + 1) + b) * self.max_lps + l

    def _seq_copy(self, word: int) -> bytes:
        """Seqlock copy of the 128-byte record starting at word index ``word`` (see the module
        docstring for why this is correct without fences on x86-64)."""
        if _WEAK_MEMORY and not _WEAK_MEMORY_ALLOWED:
            raise ScoreboardError("platform", "the Python seqlock reader needs x86-64 (TSO); use the C or Rust reader")
        w, mm = self._w, self._mm
        off = word * 8
        end = off + ROW_STRIDE
        for _ in range(MAX_TRIES):
            s1 = w[word]  # one aligned 64-bit load
            if s1 & 1:
                continue  # writer inside an update
            data = mm[off:end]  # copy of the 128 bytes
            if w[word] == s1:  # unchanged: no update overlapped the copy
                return data
        raise Busy("busy", f"record at byte {off} stayed busy for {MAX_TRIES} attempts")

    def read_words(self, row_index: int) -> Tuple[int, ...]:
        """Consistent raw copy of row ``row_index``: 16 little-endian words, word 0 = seq."""
        if not 0 <= row_index < self.n_rows:
            raise IndexError(f"row {row_index} outside 0..{self.n_rows - 1}")
        return struct.unpack("<16Q", self._seq_copy(self._rows_off // 8 + 16 * row_index))

    def row_seq(self, row_index: int) -> int:
        """The sequence word of row ``row_index`` (one aligned 64-bit load, no copy). It grows by 2
        with every publication of the row (odd while a write is in progress): poll it to learn that
        a row moved, then read the row for its contents."""
        if not 0 <= row_index < self.n_rows:
            raise IndexError(f"row {row_index} outside 0..{self.n_rows - 1}")
        return self._w[self._rows_off // 8 + 16 * row_index]

    def read(self, symbol: Union[str, int, None], bucket: Optional[int], lp: Union[str, int]) -> Row:
        """Consistent copy of the row of (symbol, bucket, LP).

        ``symbol``: name, slot, or ``None`` = all symbols; ``bucket``: ``0..n_buckets-1`` or
        ``None`` = all sizes; ``lp``: name or index. Raises ``KeyError`` for unknown names and
        ``Busy`` if the writer kept the row busy for ``MAX_TRIES`` attempts.

        >>> r = sb.read("EURUSD", None, "LP_A")                     # doctest: +SKIP
        >>> r.has_data, r.n_orders, r.score[0]                      # doctest: +SKIP
        (True, 1200, 81.5)
        """
        idx = self.row_index(symbol, bucket, lp)
        return Row.from_bytes(self._seq_copy(self._rows_off // 8 + 16 * idx))

    def snapshot(self, symbol: Union[str, int, None], bucket: Optional[int] = None) -> Dict[str, Row]:
        """Rows of every registered LP for one (symbol, bucket), keyed by LP name in index order.
        Each row is consistent on its own; the rows are consecutive in the file.

        >>> {lp: r.score[0] for lp, r in sb.snapshot("EURUSD").items()}   # doctest: +SKIP
        {'LP_A': 81.5, 'LP_B': 77.0}
        """
        s, b = self._sym_slot(symbol), self._bucket_slot(bucket)
        first = (s * (self.n_buckets + 1) + b) * self.max_lps
        names = self.lps()
        w0 = self._rows_off // 8
        return {names[i]: Row.from_bytes(self._seq_copy(w0 + 16 * (first + i))) for i in range(len(names))}

    def rank(
        self, symbol: Union[str, int, None], bucket: Optional[int] = None, profile: Union[int, str] = 0
    ) -> List[Tuple[str, float]]:
        """LPs of (symbol, bucket) ranked by ``score[profile]``, best first (ties: lower LP index
        first). Rows without data, rows of paused LPs and NaN scores are left out (as in the Rust
        crate's ``route::rank``). ``profile`` is a slot or a name.

        >>> sb.rank("EURUSD", None, "default")                      # doctest: +SKIP
        [('LP_A', 81.5), ('LP_B', 77.0)]
        """
        if isinstance(profile, str):
            match = [p.index for p in self.profiles() if p.name == profile]
            if not match:
                raise KeyError(f"profile {profile!r} does not exist")
            profile = match[0]
        if not 0 <= profile < min(self.max_profiles, N_SCORES):
            raise IndexError(f"profile slot {profile} outside 0..{self.max_profiles - 1}")
        ranked = [
            (i, name, r.score[profile])
            for i, (name, r) in enumerate(self.snapshot(symbol, bucket).items())
            if r.has_data and not r.flags & ROW_LP_PAUSED and r.score[profile] == r.score[profile]
        ]
        ranked.sort(key=lambda t: (-t[2], t[0]))
        return [(name, score) for _, name, score in ranked]

    def rows(self, buckets: bool = False) -> Iterator[Tuple[str, Optional[int], str, Row]]:
        """Yields ``(symbol, bucket, lp, row)`` for every row with data: each registered symbol and
        then ``'*'`` (all symbols), the all-sizes slot (``bucket`` None) and, with
        ``buckets=True``, each size bucket."""
        lps = self.lps()
        syms = list(enumerate(self.symbols())) + [(self.max_symbols, "*")]
        bucket_list: List[Optional[int]] = ([*range(self.n_buckets)] if buckets else []) + [None]
        for slot, sname in syms:
            for b in bucket_list:
                for li, lname in enumerate(lps):
                    r = self.read(slot, b, li)
                    if r.has_data:
                        yield sname, b, lname, r

    def staleness(self, threshold: float = DEFAULT_STALE_S) -> Liveness:
        """Writer liveness (shm/LAYOUT.md "Reader liveness"), checked in this order: ``'stopped'``
        / ``'retired'`` from the state; ``'restarted'`` if the epoch changed since open;
        ``'writer_gone'`` if ``kill(writer_pid, 0)`` fails with ESRCH; ``'stale'`` if the heartbeat
        is older than ``threshold`` seconds; else ``'live'``.

        >>> sb.staleness()                                          # doctest: +SKIP
        Liveness(kind='live', age_ns=41230512)
        """
        w = self._w
        state, epoch, pid, hb = w[_H_STATE], w[_H_EPOCH], w[_H_WRITER_PID], w[_H_HEARTBEAT_NS]
        age = max(0, time.monotonic_ns() - hb)  # CLOCK_MONOTONIC on Linux, like the writer
        if state == STATE_STOPPED:
            return Liveness("stopped", age)
        if state == STATE_RETIRED:
            return Liveness("retired", age)
        if epoch != self.epoch_at_open:
            return Liveness("restarted", age)
        if not 0 < pid <= 0x7FFFFFFF:
            return Liveness("writer_gone", age)  # an impossible pid counts as gone, as in Rust
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return Liveness("writer_gone", age)
        except PermissionError:
            pass  # exists, owned by someone else
        if age > threshold * 1e9:
            return Liveness("stale", age)
        return Liveness("live", age)

    # -- display ---------------------------------------------------------------------------------

    def table(self, buckets: bool = False) -> str:
        """The board as a text table (what the command line prints)."""
        h = self.header()
        live = self.staleness()
        lines = [
            f"scoreboard {self.path}: layout {h['version'] & 0xFFFFFFFF}.{h['version'] >> 32} "
            f"hash {h['layout_hash']:#018x} state {self.state} epoch {h['epoch']} pid {h['writer_pid']} "
            f"{live.kind} (heartbeat {live.age_ns / 1e6:.1f} ms ago) publishes {h['publish_count']}",
            f"capacities: lps {self.n_lps}/{self.max_lps} symbols {self.n_symbols}/{self.max_symbols} "
            f"buckets {self.n_buckets} ({'shares' if self.bucket_unit else 'USD'} < "
            f"{', '.join(str(u) if u < 2**64 - 1 else 'max' for u in self.bucket_upper)}) "
            f"horizon {self.score_horizon_ns / 1e6:g} ms",
        ]
        profs = self.profiles()
        for p in profs:
            lines.append(
                f"profile {p.index} {p.name!r} {'active' if p.active else 'inactive'} weights "
                + " ".join(f"{x:g}" for x in p.weights[:7])
            )
        cols = ["symbol", "bucket", "lp", "orders", "fills", "fill", "reject", "pi_bps", "es_bps",
                "impact", "markout", "ack_p50us", "flags"] + [f"s{p.index}" for p in profs]  # fmt: skip
        body = []
        for sname, b, lname, r in self.rows(buckets):
            body.append(
                [sname, "all" if b is None else str(b), lname, str(r.n_orders), str(r.n_fills),
                 f"{r.fill_rate:.3f}", f"{r.reject_rate:.3f}", f"{r.pi_bps:.2f}", f"{r.es_bps:.2f}",
                 f"{r.impact_bps:.2f}", f"{r.markout_bps:.2f}", f"{r.ack_p50_ns / 1e3:.1f}", str(r.flags)]
                + [f"{r.score[p.index]:.1f}" for p in profs]
            )  # fmt: skip
        widths = [max(len(c), *(len(row[i]) for row in body)) if body else len(c) for i, c in enumerate(cols)]
        lines.append("  ".join(c.rjust(wd) for c, wd in zip(cols, widths)))
        for row in body:
            lines.append("  ".join(v.rjust(wd) for v, wd in zip(row, widths)))
        if not body:
            lines.append("(no row has data yet)")
        return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: print a scoreboard as a table."""
    import argparse

    ap = argparse.ArgumentParser(prog="lpscore_shm", description="Dump an lpscore scoreboard as a table.")
    ap.add_argument("path", help="scoreboard file, e.g. /dev/shm/lpscore")
    ap.add_argument("--buckets", action="store_true", help="also print each size bucket, not only all sizes")
    ap.add_argument("--timeout", type=float, default=DEFAULT_OPEN_TIMEOUT_S, help="seconds to wait for READY")
    args = ap.parse_args(argv)
    try:
        with Scoreboard(args.path, timeout=args.timeout) as sb:
            print(sb.table(args.buckets))
    except (OSError, ScoreboardError) as e:
        print(f"lpscore_shm: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
