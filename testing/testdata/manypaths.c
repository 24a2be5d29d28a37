/* Thousands of recurring call paths: each iteration walks a random path of 12 left/right turns
 * (4,096 distinct stacks), on as many threads as given (default 2), until killed. */
#include <pthread.h>
#include <stdlib.h>

#define LEVELS 12
static volatile unsigned long sink;

__attribute__((noinline)) static void kiln_path_leaf(void)
{
	for (int i = 0; i < 20000; i++)
		sink++;
}

__attribute__((noinline)) static void kiln_path_step(unsigned path, int level);

__attribute__((noinline)) static void kiln_path_left(unsigned path, int level)
{
	kiln_path_step(path, level + 1);
}

__attribute__((noinline)) static void kiln_path_right(unsigned path, int level)
{
	kiln_path_step(path, level + 1);
}

__attribute__((noinline)) static void kiln_path_step(unsigned path, int level)
{
	if (level == LEVELS) {
		kiln_path_leaf();
		return;
	}
	if ((path >> level) & 1)
		kiln_path_right(path, level);
	else
		kiln_path_left(path, level);
}

static void *worker(void *arg)
{
	unsigned x = (unsigned)(unsigned long)arg * 2654435761u + 1;
	for (;;) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		kiln_path_step(x & ((1u << LEVELS) - 1), 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	pthread_t t;
	for (int i = 1; i < threads; i++)
		pthread_create(&t, NULL, worker, (void *)(unsigned long)i);
	worker((void *)0UL);
	return 0;
}
