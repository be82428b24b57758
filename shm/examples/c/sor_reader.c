/*
 * sor_reader.c - what a Smart Order Router does with shm/include/lpscore.h.
 *
 * Build:  gcc -std=c11 -Wall -Wextra -Werror -O2 -I shm/include shm/examples/c/sor_reader.c -o sor_reader
 *
 * Usage:
 *   sor_reader PATH LP SYMBOL [BUCKET [PROFILE]]
 *       Opens the scoreboard PATH, resolves LP and SYMBOL (SYMBOL "*" = all symbols), reads the row
 *       of BUCKET (0..n_buckets-1, or "all", the default) and prints every field as one key=value
 *       line, then the LPs of that symbol and bucket ranked by score[PROFILE] (default 0).
 *       Floats are printed with %.9g, which round-trips binary32 exactly.
 *   sor_reader PATH --stress ROW_INDEX MIN_READS MIN_CHANGES
 *       Reads raw row ROW_INDEX at least MIN_READS times and until the row changed MIN_CHANGES
 *       times (or 20 s passed), checking on every read that the words derive from one counter c:
 *       word1 = c and wordi = c * 0x9E3779B97F4A7C15 + i for i = 2..15 (wrapping). Prints
 *       reads=, torn=, busy=, changes=.
 *
 * Exit status: 0 on success, 2 on usage errors, 1 on any lpscore error (message on stderr).
 */
#define _POSIX_C_SOURCE 200809L
#include "lpscore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRESS_MUL 0x9E3779B97F4A7C15ULL

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* LPSCORE_BUSY means the writer was mid-update for every one of the bounded tries (on a busy host
 * it can be descheduled between its two seq stores). A router retries a little later or routes
 * on the previous value; this example retries after 50 us, up to 2000 times (outside the read
 * path, so the sleep's syscall does not matter). */
static void pause_50us(void) {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

static int usage(void) {
    fprintf(stderr, "usage: sor_reader PATH LP SYMBOL [BUCKET|all [PROFILE]]\n"
                    "       sor_reader PATH --stress ROW_INDEX MIN_READS MIN_CHANGES\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

static int stress(const lpscore_board *b, uint64_t row_index, uint64_t min_reads, uint64_t min_changes) {
    uint64_t reads = 0, torn = 0, busy = 0, changes = 0, last = UINT64_MAX;
    uint64_t deadline = monotonic_ns() + 20ULL * 1000000000ULL;
    for (;;) {
        uint64_t w[16];
        unsigned i;
        int rc = lpscore_read_words(b, row_index, w);
        if (rc == LPSCORE_BUSY) {
            busy++;
            continue;
        }
        if (rc != LPSCORE_OK) {
            fprintf(stderr, "sor_reader: read row %" PRIu64 ": %s\n", row_index, lpscore_strerror(rc));
            return 1;
        }
        reads++;
        for (i = 2; i <= 15; i++) {
            if (w[i] != w[1] * STRESS_MUL + i) {
                torn++;
                break;
            }
        }
        if (w[1] != last) {
            if (last != UINT64_MAX) changes++;
            last = w[1];
        }
        /* clock_gettime is a vDSO call (no syscall) but not free: check it rarely */
        if (reads >= min_reads && (changes >= min_changes || (reads & 0xffff) == 0)) {
            if (changes >= min_changes || monotonic_ns() > deadline) break;
        }
    }
    printf("reads=%" PRIu64 "\ntorn=%" PRIu64 "\nbusy=%" PRIu64 "\nchanges=%" PRIu64 "\n", reads, torn, busy,
           changes);
    return torn == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    lpscore_board b;
    lpscore_row row;
    lpscore_rank_entry ranked[256];
    lpscore_liveness live;
    int32_t lp, sym;
    uint32_t bucket = LPSCORE_ALL_BUCKETS, profile = 0;
    int rc, n, k;

    if (argc < 4) return usage();
    rc = lpscore_open(argv[1], &b);
    if (rc != LPSCORE_OK) {
        fprintf(stderr, "sor_reader: open %s: %s%s%s\n", argv[1], lpscore_strerror(rc),
                rc == LPSCORE_ERR_OPEN ? ": " : "", rc == LPSCORE_ERR_OPEN ? strerror(errno) : "");
        return 1;
    }

    if (strcmp(argv[2], "--stress") == 0) {
        uint64_t row_index, min_reads, min_changes;
        if (argc != 6 || parse_u64(argv[3], &row_index) || parse_u64(argv[4], &min_reads) ||
            parse_u64(argv[5], &min_changes)) {
            lpscore_close(&b);
            return usage();
        }
        rc = stress(&b, row_index, min_reads, min_changes);
        lpscore_close(&b);
        return rc;
    }

    if (argc > 4 && strcmp(argv[4], "all") != 0) {
        uint64_t v;
        if (parse_u64(argv[4], &v) || v >= b.n_buckets) {
            fprintf(stderr, "sor_reader: bucket must be 0..%u or all\n", b.n_buckets - 1);
            lpscore_close(&b);
            return 2;
        }
        bucket = (uint32_t)v;
    }
    if (argc > 5) {
        uint64_t v;
        if (parse_u64(argv[5], &v) || v >= b.max_profiles) {
            fprintf(stderr, "sor_reader: profile must be 0..%u\n", b.max_profiles - 1);
            lpscore_close(&b);
            return 2;
        }
        profile = (uint32_t)v;
    }

    lp = lpscore_lp(&b, argv[2]);
    if (lp < 0) {
        fprintf(stderr, "sor_reader: LP %s: %s\n", argv[2], lpscore_strerror(lp));
        lpscore_close(&b);
        return 1;
    }
    if (strcmp(argv[3], "*") == 0) {
        sym = (int32_t)b.max_symbols;
    } else {
        sym = lpscore_symbol(&b, argv[3]);
        if (sym < 0) {
            fprintf(stderr, "sor_reader: symbol %s: %s\n", argv[3], lpscore_strerror(sym));
            lpscore_close(&b);
            return 1;
        }
    }

    for (int tries = 0;; tries++) {
        rc = lpscore_read(&b, (uint32_t)sym, bucket, (uint32_t)lp, &row);
        if (rc != LPSCORE_BUSY || tries == 2000) break;
        pause_50us();
    }
    if (rc != LPSCORE_OK) {
        fprintf(stderr, "sor_reader: read: %s\n", lpscore_strerror(rc));
        lpscore_close(&b);
        return 1;
    }

    printf("layout_hash=0x%016" PRIx64 "\n", (uint64_t)LPSCORE_LAYOUT_HASH);
    printf("file_layout_hash=0x%016" PRIx64 "\n", lpscore_header_word(&b, LPSCORE_H_LAYOUT_HASH));
    printf("max_lps=%u\nmax_symbols=%u\nn_buckets=%u\nmax_profiles=%u\n", b.max_lps, b.max_symbols, b.n_buckets,
           b.max_profiles);
    printf("n_lps=%u\nn_symbols=%u\nn_profiles=%u\n", lpscore_n_lps(&b), lpscore_n_symbols(&b),
           lpscore_n_profiles(&b));
    printf("lp=%s\nlp_index=%d\n", argv[2], (int)lp);
    printf("symbol=%s\nsymbol_slot=%d\n", argv[3], (int)sym);
    if (bucket == LPSCORE_ALL_BUCKETS) printf("bucket=all\n");
    else printf("bucket=%u\n", bucket);
    printf("row_index=%" PRId64 "\n", lpscore_row_index(&b, (uint32_t)sym, bucket, (uint32_t)lp));
    printf("seq=%" PRIu64 "\n", row.seq);
    {
        uint64_t rs = 0;
        int64_t ri = lpscore_row_index(&b, (uint32_t)sym, bucket, (uint32_t)lp);
        if (ri >= 0 && lpscore_row_seq(&b, (uint64_t)ri, &rs) == LPSCORE_OK) printf("row_seq=%" PRIu64 "\n", rs);
    }
    printf("publish_ns=%" PRIu64 "\n", row.publish_ns);
    printf("eff_orders=%.9g\neff_fills=%.9g\n", (double)row.eff_orders, (double)row.eff_fills);
    printf("fill_rate=%.9g\nreject_rate=%.9g\n", (double)row.fill_rate, (double)row.reject_rate);
    printf("pi_bps=%.9g\nes_bps=%.9g\n", (double)row.pi_bps, (double)row.es_bps);
    printf("impact_bps=%.9g\nmarkout_bps=%.9g\n", (double)row.impact_bps, (double)row.markout_bps);
    printf("ack_p50_ns=%u\nack_p99_ns=%u\n", row.ack_p50_ns, row.ack_p99_ns);
    printf("fill_p50_ns=%u\nflags=%u\n", row.fill_p50_ns, row.flags);
    for (k = 0; k < (int)LPSCORE_N_SCORES; k++) printf("score%d=%.9g\n", k, (double)row.score[k]);
    printf("pi_rate=%.9g\neq_ratio=%.9g\n", (double)row.pi_rate, (double)row.eq_ratio);
    printf("cancel_reject_rate=%.9g\nrealized_spread_bps=%.9g\n", (double)row.cancel_reject_rate,
           (double)row.realized_spread_bps);
    printf("n_orders=%u\nn_fills=%u\nn_price_skipped=%u\n", row.n_orders, row.n_fills, row.n_price_skipped);

    for (int tries = 0;; tries++) {
        n = lpscore_rank(&b, (uint32_t)sym, bucket, profile, ranked, 256);
        if (n != LPSCORE_BUSY || tries == 2000) break;
        pause_50us();
    }
    if (n < 0) {
        fprintf(stderr, "sor_reader: rank: %s\n", lpscore_strerror(n));
        lpscore_close(&b);
        return 1;
    }
    printf("rank_profile=%u\nrank_count=%d\n", profile, n);
    for (k = 0; k < n; k++) {
        char name[LPSCORE_NAME_MAX + 1];
        if (lpscore_lp_name(&b, ranked[k].lp, name, NULL) != LPSCORE_OK) strcpy(name, "?");
        printf("rank%d=%s:%.9g\n", k, name, (double)ranked[k].score);
    }

    lpscore_staleness(&b, 0, &live);
    printf("liveness=%s\n", lpscore_liveness_str(live.kind));
    lpscore_close(&b);
    return 0;
}
