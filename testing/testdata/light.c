/* A light program: ~50 us of work every 2 ms, until killed. */
#include <unistd.h>

static volatile unsigned long sink;

int main(void)
{
	for (;;) {
		for (int i = 0; i < 20000; i++)
			sink++;
		usleep(2000);
	}
}
