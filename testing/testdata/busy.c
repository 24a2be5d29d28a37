/* Burns CPU until killed. */
static volatile unsigned long sink;

int main(void)
{
	for (;;)
		sink++;
}
