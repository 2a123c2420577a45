/* stats_hist.c: latency histograms: log-scale bins, percentiles, the sparse blobs of stats_latency. */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "stats_hist.h"

/* Longest sparse histogram: every bin with a 10-byte count. */
#define STATS_BINS_BLOB_MAX	(STATS_BINS * 11)

/* Mantissas of the histogram edges: edge(i) = m[i % 10] * 10^(i / 10) * 10 ns. */
static const int64_t stats_mantissa[10] = { 100, 125, 160, 200, 250, 315, 400, 500, 630, 800 };
/* sqrt(m[i] * m[i + 1]) with m[10] = 1000: the geometric middle of each bin. */
static const double stats_middles[10] = {
	111.803399, 141.421356, 178.885438, 223.606798, 280.624304,
	354.964787, 447.213595, 561.248608, 709.929574, 894.427191,
};

/* ---- histogram ----------------------------------------------------------- */

/* Upper edge (ns) of bin b in 0..STATS_BINS-2. */
static int64_t
stats_edge(int b)
{
	int64_t e = stats_mantissa[b % 10] * 10;
	int i;

	for (i = 0; i < b / 10; i++)
		e *= 10;
	return e;
}

/* Geometric middle (ns) of bin b in 1..STATS_BINS-2. */
static double
stats_middle(int b)
{
	double m = stats_middles[(b - 1) % 10] * 10;
	int i;

	for (i = 0; i < (b - 1) / 10; i++)
		m *= 10;
	return m;
}

int
stats_bin(int64_t ns)
{
	int lo = 0, hi = STATS_BINS - 1, mid;

	if (ns < 0)
		ns = 0;
	/* The smallest b with ns < edge(b); STATS_BINS - 1 if none. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (ns < stats_edge(mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void
stats_bin_edges(int b, int64_t *lo_ns, int64_t *hi_ns)
{

	if (b < 0)
		b = 0;
	if (b > STATS_BINS - 1)
		b = STATS_BINS - 1;
	*lo_ns = b == 0 ? 0 : stats_edge(b - 1);
	*hi_ns = b == STATS_BINS - 1 ? -1 : stats_edge(b);
}

double
stats_percentile(const int64_t counts[STATS_BINS], double p)
{
	int64_t n = 0, rank, acc = 0, lo, hi;
	double r;
	int b;

	for (b = 0; b < STATS_BINS; b++)
		n += counts[b];
	if (n == 0 || p <= 0)
		return -1;
	if (p > 1)
		p = 1;
	r = p * (double)n;
	rank = (int64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (b = 0; b < STATS_BINS; b++) {
		acc += counts[b];
		if (acc >= rank)
			break;
	}
	if (b >= STATS_BINS)
		b = STATS_BINS - 1;
	if (b == 0)
		return 0;
	stats_bin_edges(b, &lo, &hi);
	if (hi < 0)
		return (double)lo / 1e6;
	return stats_middle(b) / 1e6;
}

/* ---- sparse histograms ---------------------------------------------------- */

/* A walk through a sparse histogram: its (bin, count) pairs in bin order. */
struct stats_bins_it {
	const unsigned char *p;		/* the blob */
	size_t		 len;		/* its length */
	size_t		 i;		/* next byte */
	int		 last;		/* last bin read, -1 = none */
};

/* Reads the next pair into *b, *v: 1, 0 at the end, -1 if the blob is malformed. */
static int
stats_bins_next(struct stats_bins_it *it, int *b, int64_t *v)
{
	uint64_t u = 0;
	int shift;

	if (it->i >= it->len)
		return 0;
	*b = it->p[it->i++];
	if (*b >= STATS_BINS || *b <= it->last)
		return -1;
	for (shift = 0;; shift += 7) {
		if (it->i >= it->len || shift > 56)
			return -1;
		u |= (uint64_t)(it->p[it->i] & 0x7f) << shift;
		if ((it->p[it->i++] & 0x80) == 0)
			break;
	}
	it->last = *b;
	*v = (int64_t)u;
	return 1;
}

int
stats_bins_read(const void *blob, size_t len, int64_t counts[STATS_BINS])
{
	struct stats_bins_it it = { blob, len, 0, -1 };
	int64_t v;
	int b, rc;

	if (blob == NULL)
		return len == 0 ? 0 : -1;
	while ((rc = stats_bins_next(&it, &b, &v)) == 1)
		counts[b] += v;
	return rc;
}

/* Appends bin b with count v (if positive) to a sparse histogram at out + *n. */
static void
stats_bins_put(unsigned char *out, size_t *n, int b, int64_t v)
{
	uint64_t u;

	if (v <= 0)
		return;
	out[(*n)++] = (unsigned char)b;
	u = (uint64_t)v;
	do {
		out[(*n)++] = (unsigned char)((u & 0x7f) | (u > 0x7f ? 0x80 : 0));
		u >>= 7;
	} while (u != 0);
}

/*
 * SQL qp_stats_bins_add(bins, x): bins (a sparse histogram or NULL)
 * with one more in bin x, or, when x is a histogram (a blob), with its
 * counts added. The two are merged in bin order into the canonical
 * form: bins in order, positive counts only, shortest LEB128.
 */
void
stats_bins_add_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct stats_bins_it a = { NULL, 0, 0, -1 }, x = { NULL, 0, 0, -1 };
	unsigned char one[2], out[STATS_BINS_BLOB_MAX];
	int64_t va = 0, vx = 0;
	size_t n = 0;
	int ba = 0, bx = 0, ra, rx, b;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		a.p = sqlite3_value_blob(argv[0]);
		a.len = (size_t)sqlite3_value_bytes(argv[0]);
	}
	if (sqlite3_value_type(argv[1]) == SQLITE_BLOB) {
		x.p = sqlite3_value_blob(argv[1]);
		x.len = (size_t)sqlite3_value_bytes(argv[1]);
	} else {
		b = sqlite3_value_int(argv[1]);
		if (b < 0 || b >= STATS_BINS) {
			sqlite3_result_error(ctx, "latency bin out of range", -1);
			return;
		}
		one[0] = (unsigned char)b;
		one[1] = 1;
		x.p = one;
		x.len = sizeof(one);
	}
	if ((a.p == NULL && a.len > 0) || (x.p == NULL && x.len > 0))
		goto bad;
	ra = stats_bins_next(&a, &ba, &va);
	rx = stats_bins_next(&x, &bx, &vx);
	while (ra == 1 || rx == 1) {
		if (ra == 1 && (rx != 1 || ba < bx)) {
			stats_bins_put(out, &n, ba, va);
			ra = stats_bins_next(&a, &ba, &va);
		} else if (ra != 1 || bx < ba) {
			stats_bins_put(out, &n, bx, vx);
			rx = stats_bins_next(&x, &bx, &vx);
		} else {
			stats_bins_put(out, &n, ba, va + vx);
			ra = stats_bins_next(&a, &ba, &va);
			rx = stats_bins_next(&x, &bx, &vx);
		}
	}
	if (ra < 0 || rx < 0)
		goto bad;
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
	return;
bad:
	sqlite3_result_error(ctx, "malformed latency histogram", -1);
}
