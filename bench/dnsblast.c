/* DNS query rate over loopback: a responder process bound to ADDR:53 answers every query (the query
 * echoed with QR set and one A record), and WORKERS client processes, each with a connected UDP
 * socket, send a query and wait for its answer, as fast as they can for SECONDS, each with its own
 * name so that answers are matched. Prints "queries seconds". Usage: dnsblast SECONDS WORKERS [ADDR] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* a query for w<worker>.bench.kiln.test, type A */
static int build_query(unsigned char *q, int worker, unsigned short id)
{
	unsigned char h[12] = { id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(q, h, 12);
	int n = 12;
	char label[16];
	int l = snprintf(label, sizeof(label), "w%d", worker);
	q[n++] = l;
	memcpy(q + n, label, l);
	n += l;
	const char *rest[] = { "bench", "kiln", "test" };
	for (int i = 0; i < 3; i++) {
		l = strlen(rest[i]);
		q[n++] = l;
		memcpy(q + n, rest[i], l);
		n += l;
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	int workers = argc > 2 ? atoi(argv[2]) : 2;
	const char *addr = argc > 3 ? argv[3] : "127.0.0.53";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, addr, &a.sin_addr);
	int ss = socket(AF_INET, SOCK_DGRAM, 0);
	int one = 1;
	setsockopt(ss, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ss, (struct sockaddr *)&a, sizeof(a))) {
		perror("bind");
		return 1;
	}
	unsigned long long *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t server = fork();
	if (server == 0) {
		unsigned char b[512];
		static const unsigned char answer[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1 };
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(ss, b, sizeof(b) - sizeof(answer), 0, (struct sockaddr *)&from, &fl);
			if (n < 12)
				continue;
			b[2] |= 0x80; /* QR */
			b[3] |= 0x80; /* RA */
			b[7] = 1;     /* ANCOUNT */
			memcpy(b + n, answer, sizeof(answer));
			sendto(ss, b, n + sizeof(answer), 0, (struct sockaddr *)&from, fl);
		}
	}
	double start = now();
	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			int s = socket(AF_INET, SOCK_DGRAM, 0);
			struct timeval tv = { .tv_sec = 1 };
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if (connect(s, (struct sockaddr *)&a, sizeof(a)))
				_exit(1);
			unsigned char q[64], r[512];
			unsigned long long n = 0;
			unsigned short id = 0;
			while (now() - start < secs) {
				int ql = build_query(q, w, ++id);
				if (send(s, q, ql, 0) != ql)
					continue;
				if (recv(s, r, sizeof(r), 0) > 0)
					n++;
			}
			counts[w] = n;
			_exit(0);
		}
	}
	for (int w = 0; w < workers; w++)
		wait(NULL);
	double elapsed = now() - start;
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	unsigned long long total = 0;
	for (int w = 0; w < workers; w++)
		total += counts[w];
	printf("%llu %.3f\n", total, elapsed);
	return 0;
}
