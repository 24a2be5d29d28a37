/* Loopback TCP throughput: a child process reads and discards, the parent writes 64 KiB chunks for
 * SECONDS and prints the bytes per second, then the CPU seconds (user + system) both processes
 * used. Usage: tcpblast SECONDS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1) || getsockname(ls, (struct sockaddr *)&a, &al))
		return 1;
	static char buf[1 << 16];
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(ls, NULL, NULL);
		while (read(c, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return 1;
	double t0 = now(), t;
	unsigned long long n = 0;
	do {
		ssize_t w = write(s, buf, sizeof(buf));
		if (w <= 0)
			return 1;
		n += w;
	} while ((t = now()) - t0 < secs);
	close(s);
	waitpid(pid, NULL, 0);
	struct rusage self, child;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &child);
	double cpu = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6 +
		     child.ru_utime.tv_sec + child.ru_utime.tv_usec / 1e6 + child.ru_stime.tv_sec + child.ru_stime.tv_usec / 1e6;
	printf("%.0f %.6f %llu\n", n / (t - t0), cpu, n);
	return 0;
}
