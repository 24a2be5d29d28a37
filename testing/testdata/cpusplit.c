/* A known CPU split: kiln_caller() spends 70% of its work in kiln_hot_a and 30% in kiln_hot_b
 * (the same loop body, 7:3 iterations). Built with frame pointers. Usage: cpusplit CPU_SECONDS: it runs
 * until it has used that much CPU time, so a busy machine changes how long it takes, not how many
 * samples it earns (a wall-clock run got 282 of the 300 samples a test needs beside four CPU hogs). */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

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

__attribute__((noinline)) void kiln_caller(void)
{
	kiln_hot_a(70000);
	kiln_hot_b(30000);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	double end = now() + secs;
	while (now() < end)
		for (int i = 0; i < 100; i++)
			kiln_caller();
	return 0;
}
