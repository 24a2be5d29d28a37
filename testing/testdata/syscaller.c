/* Spends its time in the kernel: large reads from /dev/zero. Usage: syscaller SECONDS */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	time_t end = time(NULL) + (time_t)(secs + 0.999);
	int fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		return 1;
	while (time(NULL) < end)
		if (read(fd, buf, sizeof(buf)) < 0)
			return 1;
	return 0;
}
