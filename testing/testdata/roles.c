/* Two services behind one executable: `kiln-roles orders CPU_SECONDS` spends its CPU time in
 * kiln_role_orders, `kiln-roles billing CPU_SECONDS` in kiln_role_billing. Built as distributions build
 * (-O2, no frame pointers). The loop counts the process's own CPU time, so a busy machine changes how
 * long it runs, not how many samples it earns. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void kiln_role_orders(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 3;
}

__attribute__((noinline)) void kiln_role_billing(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink ^= i + 5;
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int orders = argc > 1 && strcmp(argv[1], "orders") == 0;
	double secs = argc > 2 ? atof(argv[2]) : 2;
	while (cpu_seconds() < secs) {
		if (orders)
			kiln_role_orders(200000);
		else
			kiln_role_billing(200000);
	}
	return 0;
}
