#ifndef KILN_SKELETONS_H
#define KILN_SKELETONS_H
#include <stddef.h>
struct kiln_embedded_obj {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
};
const struct kiln_embedded_obj *kiln_find_embedded(const char *name);
#endif
