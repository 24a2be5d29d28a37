/* The BPF objects built from bpf/<name>.bpf.c, embedded through their bpftool skeletons.
 * Adding a tool: include its skeleton and add a row. */
#include <stddef.h>
#include <string.h>
#include "profile.skel.h"
#include "runq.skel.h"
#include "tcp.skel.h"
#include "dns.skel.h"
#include "skeletons.h"

static const struct kiln_embedded_obj objs[] = {
	{ "profile", profile_bpf__elf_bytes },
	{ "runq", runq_bpf__elf_bytes },
	{ "tcp", tcp_bpf__elf_bytes },
	{ "dns", dns_bpf__elf_bytes },
};

const struct kiln_embedded_obj *kiln_find_embedded(const char *name)
{
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		if (strcmp(objs[i].name, name) == 0)
			return &objs[i];
	return NULL;
}
