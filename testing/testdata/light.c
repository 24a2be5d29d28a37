/* A light program: ~50 us of work every 2 ms (or every argv[1] us), until killed. */
#include <stdlib.h>
#include <unistd.h>

static volatile unsigned long sink;

int main(int argc, char **argv)
{
	useconds_t period = argc > 1 ? (useconds_t)atoi(argv[1]) : 2000;
	for (;;) {
		for (int i = 0; i < 20000; i++)
			sink++;
		usleep(period);
	}
}
