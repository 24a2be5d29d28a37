/* A light process for the memory benchmark: ~0.1 ms of work every 100 ms (500 of them: a quarter of this 2-CPU machine), through a few functions. */
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void work(void)
{
	for (unsigned long i = 0; i < 30000; i++)
		sink += i;
}

int main(void)
{
	for (;;) {
		work();
		usleep(100000);
	}
}
