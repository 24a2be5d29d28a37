/* Egress stacks fixture: two functions send known volumes to two peers, interleaved in chunks so that
 * both paths are live in every window. Built -O2 without frame pointers, as distributions build. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536];

static int dial(const char *host, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, host, &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

__attribute__((noinline)) static void send_all(int fd, long long n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n < (long long)sizeof(buf) ? n : (long long)sizeof(buf));
		if (w <= 0) {
			perror("write");
			exit(1);
		}
		n -= w;
	}
}

/* the first sends of a new process are walked before its unwind tables are loaded (frame pointers
 * only): a small warm-up, then a pause while Kiln loads them */
__attribute__((noinline)) void warm_up(int fd, long long n) { send_all(fd, n); __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void upload_reports(int fd, long long n) { send_all(fd, n); __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void push_metrics(int fd, long long n) { send_all(fd, n); __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: sendsplit HOST1 PORT1 BYTES1 HOST2 PORT2 BYTES2 (after a 4 s warm-up of 2.5 MiB to each)\n");
		return 2;
	}
	int a = dial(argv[1], atoi(argv[2]));
	int b = dial(argv[4], atoi(argv[5]));
	long long na = atoll(argv[3]), nb = atoll(argv[6]);
	for (int i = 0; i < 40; i++) {
		warm_up(a, 64 << 10);
		warm_up(b, 64 << 10);
		usleep(100 * 1000);
	}
	/* interleaved in chunks, so both paths are live in every window */
	const long long chunk = 4 << 20;
	while (na > 0 || nb > 0) {
		long long x = na < chunk ? na : chunk, y = nb < chunk / 3 ? nb : chunk / 3;
		if (x) upload_reports(a, x);
		if (y) push_metrics(b, y);
		na -= x;
		nb -= y;
	}
	close(a);
	close(b);
	/* a service lives on after its sends: Kiln reads the process while it runs, however busy the host */
	sleep(4);
	return 0;
}
