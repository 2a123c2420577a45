/* stats_hist.h: latency histograms: log-scale bins, percentiles, the sparse blobs of stats_latency. */
#ifndef QP_STATS_HIST_H
#define QP_STATS_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* Latency histogram bins: bin 0 is [0, 1 us), bin b in 1..100 is [edge(b-1), edge(b)),
 * bin 101 is [edge(100), inf); edges are 1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 x 10^k
 * microseconds (10 per decade, 1 us to 10^4 s). */
#define STATS_BINS		102
/* A percentile read from the histogram is the geometric middle of its bin, so it is
 * within this relative error (percent) of the exact value: sqrt(1.6 / 1.25) - 1. */
#define STATS_BIN_ERROR_PCT	13.2
/* The SQL function that adds one value to a sparse histogram (stats_bins_add_fn). */
#define STATS_BINS_FN		"qp_stats_bins_add"

/*
 * Returns the histogram bin of a latency of ns nanoseconds (negative
 * counts as 0), and the edges of bin b: [*lo_ns, *hi_ns), hi_ns = -1 for
 * the last bin. Thread-safe.
 */
int		 stats_bin(int64_t ns);
void		 stats_bin_edges(int b, int64_t *lo_ns, int64_t *hi_ns);

/*
 * Adds the sparse histogram blob (len bytes, as stored in
 * stats_latency.bins) to counts. Returns 0, or -1 if the blob is
 * malformed (what was read before the fault is added). Thread-safe.
 */
int		 stats_bins_read(const void *blob, size_t len, int64_t counts[STATS_BINS]);

/*
 * Returns the value (ms) reported for the p-quantile (0 < p <= 1) of a
 * histogram counts[STATS_BINS]: the geometric middle of the bin holding
 * the nearest-rank value ceil(p * n), 0 for bin 0; -1 when empty.
 * Thread-safe.
 */
double		 stats_percentile(const int64_t counts[STATS_BINS], double p);

/*
 * The SQL function STATS_BINS_FN(bins, x), to register with
 * sqlite3_create_function_v2() (2 arguments): bins (a sparse histogram or
 * NULL) with one more in bin x, or, when x is a histogram (a blob), with
 * its counts added, in the canonical form (bins in order, positive counts
 * only, shortest LEB128); an SQL error for a malformed histogram or a bin
 * out of range. Thread-safe.
 */
void		 stats_bins_add_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif /* QP_STATS_HIST_H */
