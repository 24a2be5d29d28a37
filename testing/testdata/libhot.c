/* A shared library whose exported function burns CPU (symbolized through .dynsym/.symtab of the .so). */
static volatile unsigned long lib_sink;

__attribute__((noinline)) void kiln_lib_spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		lib_sink += i;
}
