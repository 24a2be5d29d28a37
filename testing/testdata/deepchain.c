/* Known call chains for unwinding tests, built as distributions build (-O2, no frame pointers):
 *   main → run_a → step_a → leaf_a            (a hot loop in the leaf)
 *   main → run_b → sort_b → qsort (libc) → cmp_b   (a hot comparison called back from libc)
 * Each function uses its callee's result after the call, so no call becomes a tail call.
 * With -fno-omit-frame-pointer the leaves still have no frame (GCC 12 omits leaf frames).
 * Usage: deepchain SECONDS */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline, noclone)) unsigned long leaf_a(unsigned long n)
{
	unsigned long x = n;
	for (unsigned long i = 0; i < 1500000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

__attribute__((noinline, noclone)) unsigned long step_a(unsigned long n)
{
	unsigned long r = leaf_a(n);
	sink += r;
	return r ^ n;
}

__attribute__((noinline, noclone)) unsigned long run_a(unsigned long n)
{
	unsigned long r = step_a(n);
	sink += r;
	return r + 1;
}

static int cmp_b(const void *pa, const void *pb)
{
	unsigned int a = *(const unsigned int *)pa, b = *(const unsigned int *)pb;
	/* costly on purpose: most of the sort's time is spent here */
	for (int i = 0; i < 200; i++) {
		a = a * 1103515245u + 12345u;
		b = b * 1103515245u + 12345u;
	}
	return a < b ? -1 : a > b;
}

__attribute__((noinline, noclone)) void sort_b(unsigned int *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_b);
	sink += v[0];
}

__attribute__((noinline, noclone)) void run_b(unsigned int *v, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = seed = seed * 1664525u + 1013904223u;
	sort_b(v, n);
	sink += v[n - 1];
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	static unsigned int v[1000];
	double end = now() + seconds;
	for (unsigned long i = 0; now() < end; i++) {
		sink += run_a(i);
		run_b(v, 1000, (unsigned int)i);
	}
	return 0;
}
