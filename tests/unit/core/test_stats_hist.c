/*
 * Unit tests of core/stats_hist.c's percentile reading: the q-quantile of
 * latency histogram buckets, interpolated inside its bucket like
 * Prometheus' histogram_quantile, in milliseconds.
 */
#include <criterion/criterion.h>

#include "core/stats-i.h"

Test(stats_hist, quantile_of_nothing_is_unknown)
{
	uint64_t b[SL_LAT_BUCKETS + 1] = { 0 };

	cr_assert_eq(sl_stats_quantile(b, 0.5), -1);
}

Test(stats_hist, quantile_interpolates_inside_its_bucket)
{
	uint64_t b[SL_LAT_BUCKETS + 1] = { 0 };

	/* 10 observations in (25 ms, 50 ms]: p50 half way, p99 near the top */
	b[6] = 10;
	cr_assert_float_eq(sl_stats_quantile(b, 0.5), 37.5, 1e-9);
	cr_assert_float_eq(sl_stats_quantile(b, 0.99), 49.75, 1e-9);
	/* in the first bucket the lower bound is 0 */
	b[6] = 0;
	b[0] = 4;
	cr_assert_float_eq(sl_stats_quantile(b, 0.5), 0.25, 1e-9);
}

Test(stats_hist, quantile_walks_the_buckets_in_order)
{
	uint64_t b[SL_LAT_BUCKETS + 1] = { 0 };

	b[1] = 90; /* (0.5, 1] ms */
	b[8] = 10; /* (100, 250] ms */
	cr_assert(sl_stats_quantile(b, 0.5) > 0.5 && sl_stats_quantile(b, 0.5) <= 1);
	cr_assert(sl_stats_quantile(b, 0.99) > 100 && sl_stats_quantile(b, 0.99) <= 250);
}

Test(stats_hist, quantile_in_the_overflow_bucket_is_the_last_bound)
{
	uint64_t b[SL_LAT_BUCKETS + 1] = { 0 };

	b[SL_LAT_BUCKETS] = 3; /* above 10 s */
	cr_assert_float_eq(sl_stats_quantile(b, 0.5), 10000, 1e-9);
}

Test(stats_hist, bucket_bounds_span_half_a_millisecond_to_ten_seconds)
{
	cr_assert_eq(sl_lat_bounds_us[0], 500);
	cr_assert_eq(sl_lat_bounds_us[SL_LAT_BUCKETS - 1], 10000000);
	for (int i = 1; i < SL_LAT_BUCKETS; i++)
		cr_assert(sl_lat_bounds_us[i] > sl_lat_bounds_us[i - 1]);
}
