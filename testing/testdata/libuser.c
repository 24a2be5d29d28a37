/* Calls kiln_lib_spin() in libkilnhot.so in a loop. Usage: libuser SECONDS */
#include <stdlib.h>
#include <time.h>

void kiln_lib_spin(unsigned long n);

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	time_t end = time(NULL) + (time_t)(secs + 0.999);
	while (time(NULL) < end)
		kiln_lib_spin(1000000);
	return 0;
}
