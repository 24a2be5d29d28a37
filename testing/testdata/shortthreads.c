/* A short-lived multi-threaded process: two threads named "hot-worker" spin for argv[1] ms, then the
 * process exits; it prints the CPU seconds it used. Its process name (comm) is its executable's. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

__attribute__((noinline)) void short_worker_spin(double until)
{
	while (now(CLOCK_MONOTONIC) < until)
		for (int i = 0; i < 10000; i++)
			sink += i;
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "hot-worker");
	short_worker_spin(*(double *)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	double until = now(CLOCK_MONOTONIC) + (argc > 1 ? atoi(argv[1]) : 400) / 1000.0;
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, &until);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("%.6f\n", now(CLOCK_PROCESS_CPUTIME_ID));
	return 0;
}
