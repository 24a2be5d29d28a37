/* Workload for overhead runs: spins, counting iterations; prints the count on SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(void)
{
	signal(SIGTERM, on_term);
	unsigned long long n = 0;
	while (!stop)
		n++;
	printf("%llu\n", n);
	return 0;
}
