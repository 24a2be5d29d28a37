/* A DNS client that asks the way resolvers other than glibc do, so the DNS collector is tested on each
 * way a query can leave a program:
 *   sendto    an unconnected UDP socket: sendto(nameserver:53) and recvfrom (musl's resolver)
 *   connected a connected UDP socket: write and read (Go's resolver)
 *   mmsg      a connected UDP socket: A and AAAA in one sendmmsg, answers by recvmmsg
 * One try per query, 1 s timeout; a truncated answer is asked again over TCP with write and read.
 * usage: dnsclient MODE NAMESERVER NAME... */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_A 1
#define T_AAAA 28

static struct sockaddr_in ns;

static int encode(unsigned char *q, unsigned short id, const char *name, int qtype)
{
	int n = 0;
	unsigned char h[12] = { id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(q, h, 12);
	n = 12;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		int len = dot ? (int)(dot - p) : (int)strlen(p);
		q[n++] = len;
		memcpy(q + n, p, len);
		n += len;
		p += len + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = qtype;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

static int read_full(int fd, unsigned char *buf, int n)
{
	int got = 0;
	while (got < n) {
		if (!wait_readable(fd, 1000))
			return -1;
		int r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return got;
}

/* the same query over TCP: length-prefixed, written in one write, read back with read */
static void over_tcp(const unsigned char *q, int n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ns, sizeof(ns)) < 0) {
		perror("tcp connect");
		exit(1);
	}
	unsigned char out[600];
	out[0] = n >> 8;
	out[1] = n & 0xff;
	memcpy(out + 2, q, n);
	if (write(fd, out, n + 2) != n + 2)
		exit(1);
	unsigned char len[2], body[4096];
	if (read_full(fd, len, 2) == 2)
		read_full(fd, body, (len[0] << 8) | len[1]);
	close(fd);
}

static int truncated(const unsigned char *r, int n)
{
	return n >= 4 && (r[2] & 0x02);
}

static void ask_one(const char *mode, const char *name, unsigned short id)
{
	unsigned char q[512], r[4096];
	int n = encode(q, id, name, T_A);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int got = -1;
	if (!strcmp(mode, "sendto")) {
		if (sendto(fd, q, n, 0, (struct sockaddr *)&ns, sizeof(ns)) != n)
			exit(1);
		if (wait_readable(fd, 1000)) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			got = recvfrom(fd, r, sizeof(r), 0, (struct sockaddr *)&from, &fl);
		}
	} else {
		if (connect(fd, (struct sockaddr *)&ns, sizeof(ns)) < 0 || write(fd, q, n) != n)
			exit(1);
		if (wait_readable(fd, 1000))
			got = read(fd, r, sizeof(r));
	}
	close(fd);
	if (got > 0 && truncated(r, got))
		over_tcp(q, n);
}

/* A and AAAA in one sendmmsg on a connected socket; both answers by recvmmsg */
static void ask_pair(const char *name, unsigned short id)
{
	unsigned char q[2][512], r[2][4096];
	struct iovec qi[2], ri[2];
	struct mmsghdr qm[2], rm[2];
	memset(qm, 0, sizeof(qm));
	memset(rm, 0, sizeof(rm));
	for (int i = 0; i < 2; i++) {
		qi[i].iov_base = q[i];
		qi[i].iov_len = encode(q[i], id + i, name, i == 0 ? T_A : T_AAAA);
		qm[i].msg_hdr.msg_iov = &qi[i];
		qm[i].msg_hdr.msg_iovlen = 1;
		ri[i].iov_base = r[i];
		ri[i].iov_len = sizeof(r[i]);
		rm[i].msg_hdr.msg_iov = &ri[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (connect(fd, (struct sockaddr *)&ns, sizeof(ns)) < 0 || sendmmsg(fd, qm, 2, 0) != 2)
		exit(1);
	int answered = 0, tc[2] = { 0, 0 };
	while (answered < 2 && wait_readable(fd, 1000)) {
		int k = recvmmsg(fd, rm, 2 - answered, MSG_DONTWAIT, NULL);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++) {
			int which = rm[i].msg_len >= 2 && ((r[i][0] << 8) | r[i][1]) == id + 1;
			tc[which] |= truncated(r[i], rm[i].msg_len);
		}
		answered += k;
	}
	close(fd);
	for (int i = 0; i < 2; i++)
		if (tc[i])
			over_tcp(q[i], qi[i].iov_len);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	ns.sin_family = AF_INET;
	ns.sin_port = htons(53);
	if (inet_pton(AF_INET, argv[2], &ns.sin_addr) != 1)
		return 2;
	unsigned short id = getpid() & 0x7fff;
	for (int i = 3; i < argc; i++, id += 2) {
		if (!strcmp(argv[1], "mmsg"))
			ask_pair(argv[i], id);
		else
			ask_one(argv[1], argv[i], id);
	}
	return 0;
}
