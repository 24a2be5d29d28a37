/* Two programs in one binary's source, built twice (-DKILN_SIDE_A / -DKILN_SIDE_B): each burns CPU for
 * a while, then execs the other, hundreds of times a second, in one process. Side A spins three times
 * as long as side B, so a profiler that credits each sample to the image that ran gives A 3/4. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

/* CPU time, not wall time: under contention a wall-clock spin would not split the CPU 3:1 */
static long now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

#ifdef KILN_SIDE_A
#define SPIN_US 6000
#define SPIN kiln_exec_a_spin
#define OTHER "kiln-exec-b"
#else
#define SPIN_US 2000
#define SPIN kiln_exec_b_spin
#define OTHER "kiln-exec-a"
#endif

__attribute__((noinline)) static void SPIN(void)
{
	long end = now_us() + SPIN_US;
	while (now_us() < end)
		sink++;
}

int main(int argc, char **argv)
{
	(void)argc;
	SPIN();
	/* argv[0] is our path; the other binary sits beside us */
	char path[4096];
	char *slash = strrchr(argv[0], '/');
	size_t dir = slash ? (size_t)(slash - argv[0] + 1) : 0;
	if (dir + sizeof(OTHER) > sizeof(path))
		return 1;
	memcpy(path, argv[0], dir);
	memcpy(path + dir, OTHER, sizeof(OTHER));
	execl(path, path, (char *)NULL);
	return 1;
}
