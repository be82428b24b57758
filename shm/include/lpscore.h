/*
 * lpscore.h - header-only C reader of the lpscore shared-memory scoreboard (layout 1.0).
 *
 * The binary layout and the seqlock protocol are specified in shm/LAYOUT.md; this file implements
 * exactly that text. Every word of the mapping is read as one aligned 64-bit atomic load
 * (`__atomic_load_n`); 32-bit fields are extracted from the loaded word.
 *
 * Build: C99 or C11 with the GNU atomic builtins (gcc >= 4.7, clang >= 3.1), POSIX (mmap, fstat,
 * kill, clock_gettime, nanosleep), a little-endian 64-bit target (x86-64, aarch64), where an aligned
 * 64-bit atomic load is a plain load and therefore allowed on a PROT_READ mapping. The header defines
 * _POSIX_C_SOURCE 200809L when no feature-test macro is defined, which only takes effect when
 * lpscore.h is the first header of the translation unit; otherwise define _POSIX_C_SOURCE (or
 * _DEFAULT_SOURCE / _GNU_SOURCE) yourself before any #include.
 *
 * Hot path: lpscore_read(), lpscore_read_words(), lpscore_snapshot(), lpscore_rank(),
 * lpscore_lp(), lpscore_symbol() and lpscore_profile() make no system call, never block and never
 * yield: a reader that loses the race against the writer MAX_TRIES times in a row returns
 * LPSCORE_BUSY. Only lpscore_open(), lpscore_close(), lpscore_revalidate() and lpscore_staleness()
 * make system calls.
 *
 * Thread safety: an lpscore_board is read-only after lpscore_open() (except lpscore_revalidate(),
 * which updates the epoch seen at open), so any number of threads may read through one board.
 *
 * Minimal use:
 *
 *     lpscore_board b;
 *     int rc = lpscore_open("/dev/shm/lpscore", &b);
 *     if (rc != LPSCORE_OK) { fprintf(stderr, "%s\n", lpscore_strerror(rc)); return 1; }
 *     int32_t lp = lpscore_lp(&b, "LP_A");
 *     int32_t sym = lpscore_symbol(&b, "EURUSD");
 *     lpscore_row row;
 *     if (lp >= 0 && sym >= 0 &&
 *         lpscore_read(&b, (uint32_t)sym, LPSCORE_ALL_BUCKETS, (uint32_t)lp, &row) == LPSCORE_OK)
 *         printf("score %f\n", row.score[0]);
 *     lpscore_close(&b);
 */
#ifndef LPSCORE_H
#define LPSCORE_H

#if !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#if !defined(CLOCK_MONOTONIC) || !defined(O_CLOEXEC)
#error "lpscore.h needs POSIX.1-2008 declarations: #define _POSIX_C_SOURCE 200809L before any #include, or include lpscore.h first"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__SIZEOF_POINTER__) || __SIZEOF_POINTER__ != 8
/* On 32-bit targets a 64-bit __atomic_load_n may be a read-modify-write (cmpxchg8b, ldrexd/strexd),
 * which faults on the PROT_READ mapping. */
#error "lpscore.h: 64-bit targets only (64-bit atomic loads must be plain loads on a read-only mapping)"
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lpscore.h: the scoreboard is little-endian; this reader supports little-endian targets only"
#endif

/* ------------------------------------------------------------------------------------------------
 * Constants of layout 1.0 (shm/LAYOUT.md)
 * --------------------------------------------------------------------------------------------- */

/** Word 0 of the header: the bytes "LPSCORE\0" read as a little-endian u64. */
#define LPSCORE_MAGIC 0x0045524F4353504CULL
/** Major layout version this reader understands (a different major is refused). */
#define LPSCORE_VERSION_MAJOR 1u
/** Minor layout version this reader was written against (any minor is accepted). */
#define LPSCORE_VERSION_MINOR 0u
/** fnv1a64 of the layout DESCRIPTOR string of shm/LAYOUT.md (1297 bytes). A file whose header
 *  carries another hash is refused. Checked against the Rust crate by shm/tests/c_reader.rs. */
#define LPSCORE_LAYOUT_HASH 0xa267348910d14aedULL
/** Bytes of the header (four 128-byte blocks). */
#define LPSCORE_HEADER_LEN 512u
/** Bytes of one row (and of one profile entry). */
#define LPSCORE_ROW_STRIDE 128u
/** Longest name (LP id, symbol, profile) in bytes. */
#define LPSCORE_NAME_MAX 16u
/** Number of score slots in a row (= the largest max_profiles). */
#define LPSCORE_N_SCORES 8u
/** Seqlock attempts before lpscore_read() and friends return LPSCORE_BUSY. */
#define LPSCORE_MAX_TRIES 1024u
/** Timeout of lpscore_open() waiting for the writer to mark the file READY. */
#define LPSCORE_DEFAULT_OPEN_TIMEOUT_MS 2000u
/** Default heartbeat age beyond which lpscore_staleness() reports LPSCORE_STALE (1 s). */
#define LPSCORE_DEFAULT_STALE_NS 1000000000ULL

/** Pass as the symbol argument to address the "all symbols" slot (slot max_symbols). */
#define LPSCORE_ALL_SYMBOLS UINT32_MAX
/** Pass as the bucket argument to address the "all sizes" slot (slot n_buckets). */
#define LPSCORE_ALL_BUCKETS UINT32_MAX

/** Row flags (high half of word 7). */
#define LPSCORE_ROW_HAS_DATA 0x1u
#define LPSCORE_ROW_LP_PAUSED 0x2u
#define LPSCORE_ROW_NO_PRICE_KPIS 0x4u

/** LP directory flags. */
#define LPSCORE_LP_IN_USE 0x1u
#define LPSCORE_LP_PAUSED 0x2u

/** Profile flags. */
#define LPSCORE_PROFILE_ACTIVE 0x1u

/** Writer states (header word 18). */
enum lpscore_state {
    LPSCORE_STATE_INIT = 0,
    LPSCORE_STATE_READY = 1,
    LPSCORE_STATE_STOPPED = 2,
    LPSCORE_STATE_RETIRED = 3
};

/** Header word indexes (byte offset = 8 * index). */
enum lpscore_hdr_word {
    LPSCORE_H_MAGIC = 0,
    LPSCORE_H_VERSION = 1,
    LPSCORE_H_LAYOUT_HASH = 2,
    LPSCORE_H_FILE_LEN = 3,
    LPSCORE_H_HEADER_LEN = 4,
    LPSCORE_H_ROW_STRIDE = 5,
    LPSCORE_H_MAX_LPS = 6,
    LPSCORE_H_MAX_SYMBOLS = 7,
    LPSCORE_H_N_BUCKETS = 8,
    LPSCORE_H_MAX_PROFILES = 9,
    LPSCORE_H_SYM_TABLE_CAP = 10,
    LPSCORE_H_LP_DIR_OFF = 11,
    LPSCORE_H_SYM_DIR_OFF = 12,
    LPSCORE_H_PROFILE_DIR_OFF = 13,
    LPSCORE_H_ROWS_OFF = 14,
    LPSCORE_H_N_ROWS = 15,
    LPSCORE_H_WRITER_PID = 16,
    LPSCORE_H_EPOCH = 17,
    LPSCORE_H_STATE = 18,
    LPSCORE_H_START_WALL_NS = 19,
    LPSCORE_H_N_LPS = 20,
    LPSCORE_H_N_SYMBOLS = 21,
    LPSCORE_H_N_PROFILES = 22,
    LPSCORE_H_PUBLISH_COUNT = 23,
    LPSCORE_H_HEARTBEAT_NS = 32,
    LPSCORE_H_BUCKET_UNIT = 48,
    LPSCORE_H_BUCKET_UPPER = 49, /* 8 words */
    LPSCORE_H_SCORE_HORIZON_NS = 57
};

/* ------------------------------------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------------------------------- */

/** Result codes. Every function returning int returns LPSCORE_OK (0) or a value >= 0 on success
 *  and one of these negative codes on failure. */
typedef enum lpscore_err {
    LPSCORE_OK = 0,
    LPSCORE_ERR_OPEN = -1,      /**< open/fstat/mmap failed; errno holds the cause */
    LPSCORE_ERR_MAGIC = -2,     /**< not a scoreboard (wrong magic) */
    LPSCORE_ERR_VERSION = -3,   /**< different major layout version */
    LPSCORE_ERR_HASH = -4,      /**< different layout hash (built from another LAYOUT.md) */
    LPSCORE_ERR_SHORT = -5,     /**< file shorter than the header or than file_len */
    LPSCORE_ERR_LAYOUT = -6,    /**< offsets or capacities disagree with the layout formulas */
    LPSCORE_ERR_NOT_READY = -7, /**< the writer did not mark the file READY before the timeout */
    LPSCORE_BUSY = -8,          /**< seqlock: the writer kept the row busy for MAX_TRIES attempts */
    LPSCORE_ERR_NOT_FOUND = -9, /**< no LP / symbol / profile of that name or index */
    LPSCORE_ERR_INVAL = -10     /**< argument out of range (index, name length, NULL pointer) */
} lpscore_err;

/** Human-readable text of an lpscore_err code (a static string; never NULL). */
static inline const char *lpscore_strerror(int err) {
    switch (err) {
    case LPSCORE_OK: return "ok";
    case LPSCORE_ERR_OPEN: return "cannot open or map the scoreboard file (see errno)";
    case LPSCORE_ERR_MAGIC: return "not an lpscore scoreboard (wrong magic)";
    case LPSCORE_ERR_VERSION: return "unsupported scoreboard layout major version";
    case LPSCORE_ERR_HASH: return "scoreboard layout hash differs from this reader's LAYOUT.md";
    case LPSCORE_ERR_SHORT: return "scoreboard file is shorter than its header says";
    case LPSCORE_ERR_LAYOUT: return "scoreboard offsets or capacities are inconsistent";
    case LPSCORE_ERR_NOT_READY: return "scoreboard writer did not become READY before the timeout";
    case LPSCORE_BUSY: return "row busy: the writer kept updating it during every retry";
    case LPSCORE_ERR_NOT_FOUND: return "not found";
    case LPSCORE_ERR_INVAL: return "invalid argument";
    default: return "unknown lpscore error";
    }
}

/* ------------------------------------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------------------------------- */

/** An open scoreboard. Fill it with lpscore_open(); release it with lpscore_close(). The fields
 *  are the validated header values; treat them as read-only. */
typedef struct lpscore_board {
    const uint64_t *base; /**< start of the PROT_READ mapping, word 0 of the header */
    size_t map_len;       /**< bytes mapped (the file size at open) */
    uint64_t file_len;    /**< header file_len */
    uint32_t max_lps;
    uint32_t max_symbols;
    uint32_t n_buckets;
    uint32_t max_profiles;
    uint32_t sym_table_cap;
    uint32_t version_minor;
    uint64_t n_rows;
    const uint64_t *lp_dir;   /**< max_lps entries of 4 words */
    const uint64_t *sym_dir;  /**< sym_table_cap entries of 4 words */
    const uint64_t *profiles; /**< max_profiles entries of 16 words */
    const uint64_t *rows;     /**< n_rows rows of 16 words */
    uint64_t epoch_at_open;   /**< header epoch when opened (or last revalidated) */
    uint64_t bucket_unit;     /**< 0 = notional in whole USD, 1 = shares */
    uint64_t bucket_upper[8]; /**< upper bounds of the size buckets (last is UINT64_MAX) */
    uint64_t score_horizon_ns;
} lpscore_board;

/** One decoded row (shm/LAYOUT.md "Row"). The struct has exactly the row's memory layout. */
typedef struct lpscore_row {
    uint64_t seq;        /**< seqlock sequence of the copy (even) */
    uint64_t publish_ns; /**< engine event time of the last update, ns since the Unix epoch */
    float eff_orders;
    float eff_fills;
    float fill_rate;   /**< 0..1 */
    float reject_rate; /**< 0..1 */
    float pi_bps;      /**< price improvement */
    float es_bps;      /**< effective spread */
    float impact_bps;  /**< market impact at score_horizon_ns */
    float markout_bps; /**< markout at score_horizon_ns */
    uint32_t ack_p50_ns;
    uint32_t ack_p99_ns;
    uint32_t fill_p50_ns;
    uint32_t flags;                 /**< LPSCORE_ROW_* bits */
    float score[LPSCORE_N_SCORES];  /**< 0..100 per profile slot; NaN when the profile is inactive */
    float pi_rate;                  /**< 0..1 */
    float eq_ratio;
    float cancel_reject_rate;
    float realized_spread_bps;
    uint32_t n_orders;
    uint32_t n_fills;
    uint32_t n_price_skipped;
    uint32_t reserved;
} lpscore_row;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(lpscore_row) == 128, "lpscore_row must be 128 bytes");
_Static_assert(offsetof(lpscore_row, eff_orders) == 16, "row.eff_orders@16");
_Static_assert(offsetof(lpscore_row, ack_p50_ns) == 48, "row.ack_p50_ns@48");
_Static_assert(offsetof(lpscore_row, flags) == 60, "row.flags@60");
_Static_assert(offsetof(lpscore_row, score) == 64, "row.score@64");
_Static_assert(offsetof(lpscore_row, pi_rate) == 96, "row.pi_rate@96");
_Static_assert(offsetof(lpscore_row, n_orders) == 112, "row.n_orders@112");
_Static_assert(offsetof(lpscore_row, n_price_skipped) == 120, "row.n_price_skipped@120");
_Static_assert(sizeof(float) == 4, "IEEE-754 binary32 float required");
#else
typedef char lpscore_row_size_check_[(sizeof(lpscore_row) == 128) ? 1 : -1];
#endif

/** One scoring profile (shm/LAYOUT.md "Profile entry"). */
typedef struct lpscore_profile_info {
    uint32_t index;                    /**< profile index = score slot in every row */
    char name[LPSCORE_NAME_MAX + 1];   /**< NUL-terminated */
    int active;                        /**< flags bit 0 */
    double weight[8];                  /**< latency, fill rate, PI, impact, reject, ES, markout, reserved */
} lpscore_profile_info;

/** One entry of lpscore_rank(): an LP index and its score in the chosen profile slot. */
typedef struct lpscore_rank_entry {
    uint32_t lp;
    float score;
} lpscore_rank_entry;

/** Liveness verdicts of lpscore_staleness(), in the order they are checked. */
typedef enum lpscore_liveness_kind {
    LPSCORE_LIVE = 0,        /**< heartbeat fresh */
    LPSCORE_STALE = 1,       /**< heartbeat older than the threshold */
    LPSCORE_STOPPED = 2,     /**< writer shut down cleanly; data is the last published */
    LPSCORE_RETIRED = 3,     /**< file replaced by a new one: lpscore_close() and lpscore_open() again */
    LPSCORE_RESTARTED = 4,   /**< epoch changed since open: re-resolve names, then lpscore_revalidate() */
    LPSCORE_WRITER_GONE = 5  /**< kill(writer_pid, 0) says ESRCH: the writer died without stopping */
} lpscore_liveness_kind;

/** Result of lpscore_staleness(). */
typedef struct lpscore_liveness {
    lpscore_liveness_kind kind;
    uint64_t age_ns; /**< now(CLOCK_MONOTONIC) - heartbeat_ns, 0 if the heartbeat is in the future */
} lpscore_liveness;

/* ------------------------------------------------------------------------------------------------
 * Internals (prefixed lpscore__; not part of the API)
 * --------------------------------------------------------------------------------------------- */

/** Relaxed 64-bit atomic load of word i of the mapping. */
static inline uint64_t lpscore__ld(const uint64_t *w) { return __atomic_load_n(w, __ATOMIC_RELAXED); }
/** Acquire 64-bit atomic load. */
static inline uint64_t lpscore__ld_acq(const uint64_t *w) { return __atomic_load_n(w, __ATOMIC_ACQUIRE); }

/** CPU hint for a spin-wait iteration (no syscall, no yield). */
static inline void lpscore__spin(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline float lpscore__f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/** fnv1a64 over len bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
static inline uint64_t lpscore_fnv1a64(const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= (uint64_t)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/** Packs a NUL-terminated name into (lo, hi) words; returns its length, or -1 if not 1..=16 bytes. */
static inline int lpscore__pack_name(const char *name, uint64_t *lo, uint64_t *hi) {
    unsigned char buf[LPSCORE_NAME_MAX];
    size_t n, i;
    if (name == NULL) return -1;
    n = strlen(name);
    if (n == 0 || n > LPSCORE_NAME_MAX) return -1;
    memset(buf, 0, sizeof buf);
    memcpy(buf, name, n);
    *lo = 0;
    *hi = 0;
    for (i = 0; i < 8; i++) {
        *lo |= (uint64_t)buf[i] << (8 * i);
        *hi |= (uint64_t)buf[8 + i] << (8 * i);
    }
    return (int)n;
}

/** Unpacks (lo, hi) words into a NUL-terminated string of at most 16 bytes. */
static inline void lpscore__unpack_name(uint64_t lo, uint64_t hi, char out[LPSCORE_NAME_MAX + 1]) {
    size_t i;
    for (i = 0; i < 8; i++) {
        out[i] = (char)(unsigned char)(lo >> (8 * i));
        out[8 + i] = (char)(unsigned char)(hi >> (8 * i));
    }
    out[LPSCORE_NAME_MAX] = '\0';
}

static inline uint64_t lpscore__round128(uint64_t x) { return (x + 127u) & ~(uint64_t)127u; }

static inline uint64_t lpscore__next_pow2(uint64_t x) {
    uint64_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

static inline uint64_t lpscore__now_ns(clockid_t clk) {
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/** Checks the identity block of a mapped header (magic, version, hash, lengths, offsets). Must be
 *  called after state was loaded with Acquire and found READY/STOPPED. */
static inline int lpscore__validate(const uint64_t *h, size_t map_len) {
    uint64_t max_lps, max_sym, nb, maxp, cap, off, n_rows, file_len;
    if (lpscore__ld(&h[LPSCORE_H_MAGIC]) != LPSCORE_MAGIC) return LPSCORE_ERR_MAGIC;
    if ((lpscore__ld(&h[LPSCORE_H_VERSION]) & 0xffffffffu) != LPSCORE_VERSION_MAJOR)
        return LPSCORE_ERR_VERSION;
    if (lpscore__ld(&h[LPSCORE_H_LAYOUT_HASH]) != LPSCORE_LAYOUT_HASH) return LPSCORE_ERR_HASH;
    file_len = lpscore__ld(&h[LPSCORE_H_FILE_LEN]);
    if (file_len > (uint64_t)map_len) return LPSCORE_ERR_SHORT;
    if (lpscore__ld(&h[LPSCORE_H_HEADER_LEN]) != LPSCORE_HEADER_LEN) return LPSCORE_ERR_LAYOUT;
    if (lpscore__ld(&h[LPSCORE_H_ROW_STRIDE]) != LPSCORE_ROW_STRIDE) return LPSCORE_ERR_LAYOUT;
    max_lps = lpscore__ld(&h[LPSCORE_H_MAX_LPS]);
    max_sym = lpscore__ld(&h[LPSCORE_H_MAX_SYMBOLS]);
    nb = lpscore__ld(&h[LPSCORE_H_N_BUCKETS]);
    maxp = lpscore__ld(&h[LPSCORE_H_MAX_PROFILES]);
    if (max_lps < 1 || max_lps > 256 || max_sym < 1 || max_sym > (1u << 20) || nb < 1 || nb > 8 ||
        maxp < 1 || maxp > 8)
        return LPSCORE_ERR_LAYOUT;
    cap = lpscore__next_pow2(2 * max_sym < 16 ? 16 : 2 * max_sym);
    if (lpscore__ld(&h[LPSCORE_H_SYM_TABLE_CAP]) != cap) return LPSCORE_ERR_LAYOUT;
    off = LPSCORE_HEADER_LEN;
    if (lpscore__ld(&h[LPSCORE_H_LP_DIR_OFF]) != off) return LPSCORE_ERR_LAYOUT;
    off += lpscore__round128(max_lps * 32);
    if (lpscore__ld(&h[LPSCORE_H_SYM_DIR_OFF]) != off) return LPSCORE_ERR_LAYOUT;
    off += lpscore__round128(cap * 32);
    if (lpscore__ld(&h[LPSCORE_H_PROFILE_DIR_OFF]) != off) return LPSCORE_ERR_LAYOUT;
    off += maxp * 128;
    if (lpscore__ld(&h[LPSCORE_H_ROWS_OFF]) != off) return LPSCORE_ERR_LAYOUT;
    n_rows = (max_sym + 1) * (nb + 1) * max_lps;
    if (lpscore__ld(&h[LPSCORE_H_N_ROWS]) != n_rows) return LPSCORE_ERR_LAYOUT;
    if (file_len != off + n_rows * 128) return LPSCORE_ERR_LAYOUT;
    return LPSCORE_OK;
}

/** Fills the board's cached fields from a validated header. */
static inline void lpscore__fill(lpscore_board *b) {
    const uint64_t *h = b->base;
    const unsigned char *p = (const unsigned char *)h;
    int i;
    b->file_len = lpscore__ld(&h[LPSCORE_H_FILE_LEN]);
    b->max_lps = (uint32_t)lpscore__ld(&h[LPSCORE_H_MAX_LPS]);
    b->max_symbols = (uint32_t)lpscore__ld(&h[LPSCORE_H_MAX_SYMBOLS]);
    b->n_buckets = (uint32_t)lpscore__ld(&h[LPSCORE_H_N_BUCKETS]);
    b->max_profiles = (uint32_t)lpscore__ld(&h[LPSCORE_H_MAX_PROFILES]);
    b->sym_table_cap = (uint32_t)lpscore__ld(&h[LPSCORE_H_SYM_TABLE_CAP]);
    b->version_minor = (uint32_t)(lpscore__ld(&h[LPSCORE_H_VERSION]) >> 32);
    b->n_rows = lpscore__ld(&h[LPSCORE_H_N_ROWS]);
    b->lp_dir = (const uint64_t *)(const void *)(p + lpscore__ld(&h[LPSCORE_H_LP_DIR_OFF]));
    b->sym_dir = (const uint64_t *)(const void *)(p + lpscore__ld(&h[LPSCORE_H_SYM_DIR_OFF]));
    b->profiles = (const uint64_t *)(const void *)(p + lpscore__ld(&h[LPSCORE_H_PROFILE_DIR_OFF]));
    b->rows = (const uint64_t *)(const void *)(p + lpscore__ld(&h[LPSCORE_H_ROWS_OFF]));
    b->epoch_at_open = lpscore__ld(&h[LPSCORE_H_EPOCH]);
    b->bucket_unit = lpscore__ld(&h[LPSCORE_H_BUCKET_UNIT]);
    for (i = 0; i < 8; i++) b->bucket_upper[i] = lpscore__ld(&h[LPSCORE_H_BUCKET_UPPER + i]);
    b->score_horizon_ns = lpscore__ld(&h[LPSCORE_H_SCORE_HORIZON_NS]);
}

/** Opens and maps path. Returns LPSCORE_OK, or an error with nothing left mapped or open. */
static inline int lpscore__map(const char *path, const uint64_t **base, size_t *len) {
    struct stat st;
    void *m;
    int fd, saved;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return LPSCORE_ERR_OPEN;
    if (fstat(fd, &st) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return LPSCORE_ERR_OPEN;
    }
    if (st.st_size < (off_t)LPSCORE_HEADER_LEN) {
        close(fd);
        return LPSCORE_ERR_SHORT;
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    saved = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED) {
        errno = saved;
        return LPSCORE_ERR_OPEN;
    }
    *base = (const uint64_t *)m;
    *len = (size_t)st.st_size;
    return LPSCORE_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Opening and closing
 * --------------------------------------------------------------------------------------------- */

/**
 * Opens the scoreboard at path: open(O_RDONLY), fstat, mmap(PROT_READ, MAP_SHARED), then waits up
 * to timeout_ms for the writer's state to leave INIT (loaded with Acquire, pairs with the writer's
 * Release store of READY), and validates magic, major version, layout hash, file length, and the
 * offsets against the capacities. A file in state RETIRED (replaced by a new one) is reopened by
 * path until the timeout. A STOPPED file is accepted (its rows are the last published; see
 * lpscore_staleness()). A wrong magic fails at once without waiting.
 *
 * Returns LPSCORE_OK and fills *board, or a negative lpscore_err (errno is meaningful for
 * LPSCORE_ERR_OPEN) and leaves nothing mapped. Makes system calls; not for the hot path.
 */
static inline int lpscore_open_timeout(const char *path, lpscore_board *board, uint32_t timeout_ms) {
    uint64_t deadline, now;
    int rc;
    if (path == NULL || board == NULL) return LPSCORE_ERR_INVAL;
    memset(board, 0, sizeof *board);
    deadline = lpscore__now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000ULL;
    for (;;) {
        const uint64_t *base = NULL;
        size_t len = 0;
        uint64_t state;
        rc = lpscore__map(path, &base, &len);
        if (rc != LPSCORE_OK) return rc;
        if (lpscore__ld(&base[LPSCORE_H_MAGIC]) != LPSCORE_MAGIC) {
            munmap((void *)(uintptr_t)base, len);
            return LPSCORE_ERR_MAGIC;
        }
        for (;;) {
            /* Acquire: pairs with the writer's Release store of READY; everything the writer
             * filled before it (identity block, directories) is visible after this load. */
            state = lpscore__ld_acq(&base[LPSCORE_H_STATE]);
            if (state != LPSCORE_STATE_INIT) break;
            now = lpscore__now_ns(CLOCK_MONOTONIC);
            if (now >= deadline) break;
            {
                struct timespec ts = {0, 1000000L}; /* 1 ms */
                nanosleep(&ts, NULL);
            }
        }
        if (state == LPSCORE_STATE_READY || state == LPSCORE_STATE_STOPPED) {
            rc = lpscore__validate(base, len);
            if (rc != LPSCORE_OK) {
                munmap((void *)(uintptr_t)base, len);
                return rc;
            }
            board->base = base;
            board->map_len = len;
            lpscore__fill(board);
            return LPSCORE_OK;
        }
        munmap((void *)(uintptr_t)base, len);
        now = lpscore__now_ns(CLOCK_MONOTONIC);
        if (state != LPSCORE_STATE_RETIRED || now >= deadline) return LPSCORE_ERR_NOT_READY;
        {
            struct timespec ts = {0, 1000000L}; /* RETIRED: the new file is renamed in; retry */
            nanosleep(&ts, NULL);
        }
    }
}

/** lpscore_open_timeout() with LPSCORE_DEFAULT_OPEN_TIMEOUT_MS. */
static inline int lpscore_open(const char *path, lpscore_board *board) {
    return lpscore_open_timeout(path, board, LPSCORE_DEFAULT_OPEN_TIMEOUT_MS);
}

/** Unmaps the board. Safe on a zeroed or already closed board. Always returns LPSCORE_OK. */
static inline int lpscore_close(lpscore_board *board) {
    if (board != NULL && board->base != NULL) {
        munmap((void *)(uintptr_t)board->base, board->map_len);
        memset(board, 0, sizeof *board);
    }
    return LPSCORE_OK;
}

/**
 * After lpscore_staleness() reported LPSCORE_RESTARTED (the writer took the file over in place and
 * cleared its directories): re-validates the header and records the new epoch as the one seen at
 * open. LP and symbol indexes obtained before must be resolved again afterwards. Returns
 * LPSCORE_OK, LPSCORE_ERR_NOT_READY if the writer is still in INIT, or a validation error.
 */
static inline int lpscore_revalidate(lpscore_board *board) {
    uint64_t state;
    int rc;
    if (board == NULL || board->base == NULL) return LPSCORE_ERR_INVAL;
    state = lpscore__ld_acq(&board->base[LPSCORE_H_STATE]);
    if (state == LPSCORE_STATE_INIT) return LPSCORE_ERR_NOT_READY;
    rc = lpscore__validate(board->base, board->map_len);
    if (rc != LPSCORE_OK) return rc;
    lpscore__fill(board);
    return LPSCORE_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Directories (no system calls)
 * --------------------------------------------------------------------------------------------- */

/** Number of registered LPs (n_lps loaded with Acquire, pairs with the writer's Release store made
 *  after the directory entry), clamped to max_lps. */
static inline uint32_t lpscore_n_lps(const lpscore_board *board) {
    uint64_t n = lpscore__ld_acq(&board->base[LPSCORE_H_N_LPS]);
    return n > board->max_lps ? board->max_lps : (uint32_t)n;
}

/** Number of registered symbols (Acquire), clamped to max_symbols. */
static inline uint32_t lpscore_n_symbols(const lpscore_board *board) {
    uint64_t n = lpscore__ld_acq(&board->base[LPSCORE_H_N_SYMBOLS]);
    return n > board->max_symbols ? board->max_symbols : (uint32_t)n;
}

/** Number of profile entries that exist (Acquire), clamped to max_profiles. */
static inline uint32_t lpscore_n_profiles(const lpscore_board *board) {
    uint64_t n = lpscore__ld_acq(&board->base[LPSCORE_H_N_PROFILES]);
    return n > board->max_profiles ? board->max_profiles : (uint32_t)n;
}

/**
 * Index of the LP named name (1..16 bytes): scans LP directory entries 0..n_lps for an in-use
 * entry with the same name words. Returns the index (>= 0; the `l` of the row formula),
 * LPSCORE_ERR_NOT_FOUND, or LPSCORE_ERR_INVAL for a bad name. No system call.
 */
static inline int32_t lpscore_lp(const lpscore_board *board, const char *name) {
    uint64_t lo, hi;
    uint32_t n, i;
    if (board == NULL || board->base == NULL) return LPSCORE_ERR_INVAL;
    if (lpscore__pack_name(name, &lo, &hi) < 0) return LPSCORE_ERR_INVAL;
    n = lpscore_n_lps(board);
    for (i = 0; i < n; i++) {
        const uint64_t *e = board->lp_dir + 4 * (size_t)i;
        if ((lpscore__ld(&e[2]) & LPSCORE_LP_IN_USE) && lpscore__ld(&e[0]) == lo &&
            lpscore__ld(&e[1]) == hi)
            return (int32_t)i;
    }
    return LPSCORE_ERR_NOT_FOUND;
}

/**
 * Copies the name and directory flags (LPSCORE_LP_*) of LP index lp. name must hold 17 bytes;
 * flags may be NULL. Returns LPSCORE_OK or LPSCORE_ERR_NOT_FOUND if lp >= n_lps.
 */
static inline int lpscore_lp_name(const lpscore_board *board, uint32_t lp, char name[LPSCORE_NAME_MAX + 1],
                                  uint32_t *flags) {
    const uint64_t *e;
    if (board == NULL || board->base == NULL || name == NULL) return LPSCORE_ERR_INVAL;
    if (lp >= lpscore_n_lps(board)) return LPSCORE_ERR_NOT_FOUND;
    e = board->lp_dir + 4 * (size_t)lp;
    lpscore__unpack_name(lpscore__ld(&e[0]), lpscore__ld(&e[1]), name);
    if (flags != NULL) *flags = (uint32_t)lpscore__ld(&e[2]);
    return LPSCORE_OK;
}

/**
 * Slot of the symbol named name (1..16 bytes): open addressing with linear probing from
 * fnv1a64(name) & (sym_table_cap - 1); each tag is loaded with Acquire (pairs with the writer's
 * Release store of the tag, made after the entry's other words); an empty tag ends the search.
 * At most sym_table_cap probes. Returns the slot (>= 0, the `s` of the row formula),
 * LPSCORE_ERR_NOT_FOUND, or LPSCORE_ERR_INVAL. No system call.
 */
static inline int32_t lpscore_symbol(const lpscore_board *board, const char *name) {
    uint64_t lo, hi, h, mask, i, probes;
    int n;
    if (board == NULL || board->base == NULL) return LPSCORE_ERR_INVAL;
    n = lpscore__pack_name(name, &lo, &hi);
    if (n < 0) return LPSCORE_ERR_INVAL;
    h = lpscore_fnv1a64(name, (size_t)n);
    mask = (uint64_t)board->sym_table_cap - 1;
    i = h & mask;
    for (probes = 0; probes < board->sym_table_cap; probes++) {
        const uint64_t *e = board->sym_dir + 4 * (size_t)i;
        uint64_t tag = lpscore__ld_acq(&e[0]);
        if (tag == 0) return LPSCORE_ERR_NOT_FOUND;
        if (lpscore__ld(&e[3]) == h && lpscore__ld(&e[1]) == lo && lpscore__ld(&e[2]) == hi) {
            if (tag - 1 >= board->max_symbols) return LPSCORE_ERR_LAYOUT;
            return (int32_t)(tag - 1);
        }
        i = (i + 1) & mask;
    }
    return LPSCORE_ERR_NOT_FOUND;
}

/**
 * Name of the symbol in slot sym (scans the table for the entry whose tag is sym + 1). name must
 * hold 17 bytes. Returns LPSCORE_OK or LPSCORE_ERR_NOT_FOUND. O(sym_table_cap); not for the hot
 * path, but no system call.
 */
static inline int lpscore_symbol_name(const lpscore_board *board, uint32_t sym, char name[LPSCORE_NAME_MAX + 1]) {
    uint32_t i;
    if (board == NULL || board->base == NULL || name == NULL) return LPSCORE_ERR_INVAL;
    for (i = 0; i < board->sym_table_cap; i++) {
        const uint64_t *e = board->sym_dir + 4 * (size_t)i;
        if (lpscore__ld_acq(&e[0]) == (uint64_t)sym + 1) {
            lpscore__unpack_name(lpscore__ld(&e[1]), lpscore__ld(&e[2]), name);
            return LPSCORE_OK;
        }
    }
    return LPSCORE_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------------------------------------------
 * Rows and profiles: the seqlock read (no system calls)
 * --------------------------------------------------------------------------------------------- */

/**
 * Seqlock read of n_words data words following a sequence word (shm/LAYOUT.md "Seqlock protocol").
 * out[0] receives the (even) sequence, out[1..=n_words] the data words. Returns LPSCORE_OK or
 * LPSCORE_BUSY after LPSCORE_MAX_TRIES attempts.
 */
static inline int lpscore__seq_read(const uint64_t *w, uint64_t *out, unsigned n_words) {
    unsigned tries, i;
    /* Rows are 128 bytes: request the second line before the seq load, so that after a
     * publication (both lines moved to the writer's core) the two transfers overlap. A hint. */
    if (n_words >= 8) __builtin_prefetch(&w[8], 0, 3);
    for (tries = 0; tries < LPSCORE_MAX_TRIES; tries++) {
        /* Acquire: pairs with the writer's final Release store of the even seq, so the data
         * words loaded below are at least as new as that publication. */
        uint64_t s1 = __atomic_load_n(&w[0], __ATOMIC_ACQUIRE);
        uint64_t s2;
        if (s1 & 1u) {
            lpscore__spin();
            continue;
        }
        for (i = 1; i <= n_words; i++) out[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
        /* Acquire fence: pairs with the writer's Release fence after its odd seq store; if any
         * data word above came from a newer write, the seq load below sees that odd (or later)
         * value, and the copy is discarded. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
        if (s1 == s2) {
            out[0] = s1;
            return LPSCORE_OK;
        }
        lpscore__spin();
    }
    return LPSCORE_BUSY;
}

/**
 * Row index of (symbol slot sym, bucket slot bucket, LP lp): (sym * (n_buckets + 1) + bucket) *
 * max_lps + lp. sym may be LPSCORE_ALL_SYMBOLS (or max_symbols), bucket LPSCORE_ALL_BUCKETS (or
 * n_buckets). Returns the index (>= 0) or LPSCORE_ERR_INVAL when out of range.
 */
static inline int64_t lpscore_row_index(const lpscore_board *board, uint32_t sym, uint32_t bucket, uint32_t lp) {
    if (sym == LPSCORE_ALL_SYMBOLS) sym = board->max_symbols;
    if (bucket == LPSCORE_ALL_BUCKETS) bucket = board->n_buckets;
    if (sym > board->max_symbols || bucket > board->n_buckets || lp >= board->max_lps)
        return LPSCORE_ERR_INVAL;
    return ((int64_t)sym * (board->n_buckets + 1) + bucket) * board->max_lps + lp;
}

/**
 * Raw seqlock read of row row_index: words[0] = seq (even), words[1..16] = the 15 data words as
 * stored. Returns LPSCORE_OK, LPSCORE_BUSY, or LPSCORE_ERR_INVAL. No system call.
 */
static inline int lpscore_read_words(const lpscore_board *board, uint64_t row_index, uint64_t words[16]) {
    if (board == NULL || words == NULL || row_index >= board->n_rows) return LPSCORE_ERR_INVAL;
    return lpscore__seq_read(board->rows + 16 * (size_t)row_index, words, 15);
}

/**
 * The sequence word of row row_index into *seq: one load from the row's first cache line, no copy.
 * It grows by 2 with every publication of the row (odd while a write is in progress): a reader that
 * only needs to know whether a row moved polls this word and leaves the row's second line to the
 * writer, then reads the row for its contents. Returns LPSCORE_OK or LPSCORE_ERR_INVAL.
 */
static inline int lpscore_row_seq(const lpscore_board *board, uint64_t row_index, uint64_t *seq) {
    if (board == NULL || seq == NULL || row_index >= board->n_rows) return LPSCORE_ERR_INVAL;
    /* Acquire: pairs with the writer's final Release store of the even seq. */
    *seq = __atomic_load_n(board->rows + 16 * (size_t)row_index, __ATOMIC_ACQUIRE);
    return LPSCORE_OK;
}

/**
 * Consistent copy of the row of (symbol slot sym, bucket slot bucket, LP index lp) into *row.
 * sym comes from lpscore_symbol() or is LPSCORE_ALL_SYMBOLS; bucket is 0..n_buckets-1 or
 * LPSCORE_ALL_BUCKETS; lp comes from lpscore_lp(). A row never published reads as zeros with
 * flags & LPSCORE_ROW_HAS_DATA == 0. Returns LPSCORE_OK, LPSCORE_BUSY (the writer kept updating the
 * row for LPSCORE_MAX_TRIES attempts; try again), or LPSCORE_ERR_INVAL. No system call.
 */
static inline int lpscore_read(const lpscore_board *board, uint32_t sym, uint32_t bucket, uint32_t lp,
                               lpscore_row *row) {
    uint64_t w[16];
    int64_t idx;
    int rc;
    if (board == NULL || board->base == NULL || row == NULL) return LPSCORE_ERR_INVAL;
    idx = lpscore_row_index(board, sym, bucket, lp);
    if (idx < 0) return LPSCORE_ERR_INVAL;
    rc = lpscore__seq_read(board->rows + 16 * (size_t)idx, w, 15);
    if (rc != LPSCORE_OK) return rc;
    /* The struct has the row's exact little-endian memory layout (static asserts above). */
    memcpy(row, w, sizeof *row);
    return LPSCORE_OK;
}

/**
 * Reads the rows of LPs 0..min(n_lps, cap) of one (symbol slot, bucket slot) - consecutive rows,
 * so one contiguous sweep - into out[0..]. Each row is individually consistent (its own seqlock);
 * rows are not a single atomic snapshot of each other. Returns the number of rows read (>= 0),
 * LPSCORE_BUSY if any row stayed busy, or LPSCORE_ERR_INVAL. No system call.
 */
static inline int lpscore_snapshot(const lpscore_board *board, uint32_t sym, uint32_t bucket,
                                   lpscore_row *out, uint32_t cap) {
    uint32_t n, i;
    int64_t idx;
    if (board == NULL || board->base == NULL || (out == NULL && cap > 0)) return LPSCORE_ERR_INVAL;
    idx = lpscore_row_index(board, sym, bucket, 0);
    if (idx < 0) return LPSCORE_ERR_INVAL;
    n = lpscore_n_lps(board);
    if (n > cap) n = cap;
    for (i = 0; i < n; i++) {
        uint64_t w[16];
        int rc = lpscore__seq_read(board->rows + 16 * ((size_t)idx + i), w, 15);
        if (rc != LPSCORE_OK) return rc;
        memcpy(&out[i], w, sizeof out[i]);
    }
    return (int)n;
}

/**
 * Ranks the LPs of one (symbol slot, bucket slot) by score[profile], best first (ties: lower LP
 * index first). Rows without data (flags & LPSCORE_ROW_HAS_DATA == 0), rows of paused LPs
 * (LPSCORE_ROW_LP_PAUSED) and NaN scores are left out, as in the Rust crate's route::rank.
 * Writes at most cap entries to out and returns how many (>= 0), or LPSCORE_BUSY, or
 * LPSCORE_ERR_INVAL (profile >= max_profiles, bad slot). No system call, no allocation.
 */
static inline int lpscore_rank(const lpscore_board *board, uint32_t sym, uint32_t bucket, uint32_t profile,
                               lpscore_rank_entry *out, uint32_t cap) {
    uint32_t n, i, len = 0;
    int64_t idx;
    if (board == NULL || board->base == NULL || (out == NULL && cap > 0)) return LPSCORE_ERR_INVAL;
    if (profile >= board->max_profiles || profile >= LPSCORE_N_SCORES) return LPSCORE_ERR_INVAL;
    idx = lpscore_row_index(board, sym, bucket, 0);
    if (idx < 0) return LPSCORE_ERR_INVAL;
    n = lpscore_n_lps(board);
    for (i = 0; i < n; i++) {
        uint64_t w[16];
        lpscore_row r;
        uint32_t j;
        float s;
        int rc = lpscore__seq_read(board->rows + 16 * ((size_t)idx + i), w, 15);
        if (rc != LPSCORE_OK) return rc;
        memcpy(&r, w, sizeof r);
        s = r.score[profile];
        if (!(r.flags & LPSCORE_ROW_HAS_DATA) || (r.flags & LPSCORE_ROW_LP_PAUSED) || s != s) continue;
        /* insertion into out[0..len), descending score, stable on LP index */
        j = len < cap ? len : cap;
        while (j > 0 && out[j - 1].score < s) {
            if (j < cap) out[j] = out[j - 1];
            j--;
        }
        if (j < cap) {
            out[j].lp = i;
            out[j].score = s;
            if (len < cap) len++;
        }
    }
    return (int)len;
}

/**
 * Consistent copy (seqlock) of profile entry idx into *out. Returns LPSCORE_OK,
 * LPSCORE_ERR_NOT_FOUND if idx >= n_profiles, LPSCORE_BUSY, or LPSCORE_ERR_INVAL. No system call.
 */
static inline int lpscore_profile(const lpscore_board *board, uint32_t idx, lpscore_profile_info *out) {
    uint64_t w[16];
    int rc, k;
    if (board == NULL || board->base == NULL || out == NULL) return LPSCORE_ERR_INVAL;
    if (idx >= lpscore_n_profiles(board)) return LPSCORE_ERR_NOT_FOUND;
    rc = lpscore__seq_read(board->profiles + 16 * (size_t)idx, w, 15);
    if (rc != LPSCORE_OK) return rc;
    out->index = idx;
    lpscore__unpack_name(w[1], w[2], out->name);
    out->active = (int)(w[3] & LPSCORE_PROFILE_ACTIVE);
    for (k = 0; k < 8; k++) memcpy(&out->weight[k], &w[4 + k], sizeof(double));
    return LPSCORE_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Header fields and liveness
 * --------------------------------------------------------------------------------------------- */

/** Relaxed load of header word idx (enum lpscore_hdr_word); heartbeat, counters, state. */
static inline uint64_t lpscore_header_word(const lpscore_board *board, unsigned idx) {
    return idx < LPSCORE_HEADER_LEN / 8 ? lpscore__ld(&board->base[idx]) : 0;
}

/** Human-readable name of a liveness kind. */
static inline const char *lpscore_liveness_str(lpscore_liveness_kind k) {
    switch (k) {
    case LPSCORE_LIVE: return "live";
    case LPSCORE_STALE: return "stale";
    case LPSCORE_STOPPED: return "stopped";
    case LPSCORE_RETIRED: return "retired";
    case LPSCORE_RESTARTED: return "restarted";
    case LPSCORE_WRITER_GONE: return "writer_gone";
    default: return "unknown";
    }
}

/**
 * Liveness of the writer (shm/LAYOUT.md "Reader liveness"), checked in this order: STOPPED /
 * RETIRED from state; RESTARTED when the epoch differs from the one seen at open; WRITER_GONE when
 * kill(writer_pid, 0) fails with ESRCH (a system call); STALE when the heartbeat (Acquire, pairs
 * with the writer's Release store) is older than threshold_ns (0 = LPSCORE_DEFAULT_STALE_NS);
 * otherwise LIVE. age_ns is set in every case. Returns LPSCORE_OK or LPSCORE_ERR_INVAL.
 * Not part of the hot path: call it every few milliseconds, not per read.
 */
static inline int lpscore_staleness(const lpscore_board *board, uint64_t threshold_ns, lpscore_liveness *out) {
    uint64_t state, epoch, pid, hb, now;
    if (out == NULL) return LPSCORE_ERR_INVAL;
    out->kind = LPSCORE_WRITER_GONE;
    out->age_ns = 0;
    if (board == NULL || board->base == NULL) return LPSCORE_ERR_INVAL;
    if (threshold_ns == 0) threshold_ns = LPSCORE_DEFAULT_STALE_NS;
    state = lpscore__ld_acq(&board->base[LPSCORE_H_STATE]);
    epoch = lpscore__ld(&board->base[LPSCORE_H_EPOCH]);
    pid = lpscore__ld(&board->base[LPSCORE_H_WRITER_PID]);
    hb = lpscore__ld_acq(&board->base[LPSCORE_H_HEARTBEAT_NS]);
    now = lpscore__now_ns(CLOCK_MONOTONIC);
    out->age_ns = now > hb ? now - hb : 0;
    if (state == LPSCORE_STATE_STOPPED) out->kind = LPSCORE_STOPPED;
    else if (state == LPSCORE_STATE_RETIRED) out->kind = LPSCORE_RETIRED;
    else if (epoch != board->epoch_at_open) out->kind = LPSCORE_RESTARTED;
    else if (pid == 0 || pid > (uint64_t)INT32_MAX || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        out->kind = LPSCORE_WRITER_GONE; /* an impossible pid counts as gone, as in the Rust reader */
    else if (out->age_ns > threshold_ns) out->kind = LPSCORE_STALE;
    else out->kind = LPSCORE_LIVE;
    return LPSCORE_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* LPSCORE_H */
