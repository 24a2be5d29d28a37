/* Loopback TCP connection rate: WORKERS client processes connect, send 64 bytes, read the answer and
 * close, as fast as they can for SECONDS, against a server process that accepts, answers and closes.
 * Prints "connections seconds". Usage: connrate SECONDS WORKERS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
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
	int workers = argc > 2 ? atoi(argv[2]) : 2;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4096) || getsockname(ls, (struct sockaddr *)&a, &al))
		return 1;
	unsigned long long *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t server = fork();
	if (server == 0) {
		char b[64];
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c < 0)
				continue;
			if (read(c, b, sizeof(b)) > 0)
				write(c, b, sizeof(b));
			close(c);
		}
	}
	double t0 = now();
	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			char b[64] = { 0 };
			unsigned long long n = 0;
			while (now() - t0 < secs) {
				int s = socket(AF_INET, SOCK_STREAM, 0);
				/* RST on close: no TIME_WAIT, so the ephemeral ports last the whole run */
				struct linger lg = { 1, 0 };
				setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 && write(s, b, sizeof(b)) == sizeof(b) && read(s, b, sizeof(b)) > 0)
					n++;
				close(s);
			}
			counts[w] = n;
			_exit(0);
		}
	}
	for (int w = 0; w < workers; w++)
		wait(NULL);
	double t = now() - t0;
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	unsigned long long total = 0;
	for (int w = 0; w < workers; w++)
		total += counts[w];
	printf("%llu %.3f\n", total, t);
	return 0;
}
