/* Switches its hot function mid-run: phase 1 splits kiln_caller's work 50/50 between kiln_steady and
 * kiln_hot_a; phase 2 gives kiln_steady 30% and kiln_hot_b 70%. kiln_hot_b is the function that grew.
 * Usage: switcher PHASE_SECONDS (phase 2 starts after PHASE_SECONDS, the program ends after twice that) */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void kiln_steady(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i;
}

__attribute__((noinline)) void kiln_hot_a(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i;
}

__attribute__((noinline)) void kiln_hot_b(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i;
}

__attribute__((noinline)) void kiln_caller(int phase)
{
	if (phase == 1) {
		kiln_steady(50000);
		kiln_hot_a(50000);
	} else {
		kiln_steady(30000);
		kiln_hot_b(70000);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double phase = argc > 1 ? atof(argv[1]) : 5;
	double start = now();
	for (;;) {
		double t = now() - start;
		if (t >= 2 * phase)
			break;
		for (int i = 0; i < 50; i++)
			kiln_caller(t < phase ? 1 : 2);
	}
	return 0;
}
