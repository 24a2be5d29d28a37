/* N processes one after another (argv[1]), each sending one byte from an unconnected UDP socket to
 * 127.0.0.1:53 by address (the way musl's resolver asks), then exiting without closing it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			int fd = socket(AF_INET, SOCK_DGRAM, 0);
			if (fd < 0 || sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) != 1)
				_exit(1);
			_exit(0);
		}
		int status = 0;
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return 1;
	}
	return 0;
}
