/* Spins in anonymous executable memory, as JIT-compiled code does: the profiler looks its frames up in
 * /tmp/perf-<pid>.map. Prints the loop's address, then runs it until killed. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return 1;
	/* the loop sits 0x100 into the page: jmp . */
	code[0x100] = 0xeb;
	code[0x101] = 0xfe;
	printf("%lx\n", (unsigned long)(code + 0x100));
	fflush(stdout);
	((void (*)(void))(code + 0x100))();
	return 0;
}
