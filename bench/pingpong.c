/* Context-switch-heavy load: two processes bounce a byte over two pipes. Prints round trips on SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(void)
{
	int a[2], b[2];
	char c = 0;
	if (pipe(a) || pipe(b))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		for (;;) {
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				_exit(0);
		}
	}
	signal(SIGTERM, on_term);
	unsigned long long n = 0;
	while (!stop) {
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			break;
		n++;
	}
	kill(child, SIGKILL);
	printf("%llu\n", n);
	return 0;
}
