/* Plain C over libbpf, no JS: open an embedded BPF object, size and configure it, load, attach,
 * drain maps, read run-time statistics. Every function returns 0 or a negative errno. */
#ifndef KILN_BPF_H
#define KILN_BPF_H
#include <stddef.h>
#include <stdint.h>

struct kiln_obj;

/* The last libbpf warnings/verifier log lines, for error messages. */
const char *kiln_last_log(void);
void kiln_clear_log(void);

int kiln_obj_open(const char *name, struct kiln_obj **out);
int kiln_obj_set_max_entries(struct kiln_obj *o, const char *map, uint32_t n);
int kiln_obj_reuse_map(struct kiln_obj *o, const char *map, int fd);
int kiln_obj_set_global(struct kiln_obj *o, const char *var, const void *val, size_t sz);
int kiln_obj_load(struct kiln_obj *o);
/* perf_event software cpu-clock on one CPU with a fixed period in ns, program attached to it */
int kiln_obj_attach_cpu_clock(struct kiln_obj *o, const char *prog, int cpu, uint64_t period_ns);
/* attach by the program's SEC() (tracepoints, tp_btf, fentry...) */
int kiln_obj_attach(struct kiln_obj *o, const char *prog);
int kiln_obj_map_fd(struct kiln_obj *o, const char *map, uint32_t *key_size, uint32_t *value_size,
		    uint32_t *max_entries, uint32_t *type);
/* Lookup-and-delete every entry of a hash map with batch calls. keys/vals have room for cap
 * entries; *count gets the number read. */
int kiln_map_drain(int fd, uint32_t key_size, uint32_t value_size, uint32_t cap, void *keys, void *vals,
		   uint32_t *count);

/* Reads every entry of a hash map with batch calls, deleting nothing. */
int kiln_map_dump(int fd, uint32_t key_size, uint32_t value_size, uint32_t cap, void *keys, void *vals,
		  uint32_t *count);

/* Writes n (key, value) pairs with batch calls (array and hash maps). */
int kiln_map_update_batch(int fd, const void *keys, const void *vals, uint32_t n, uint32_t key_size, uint32_t value_size);

struct kiln_prog_stat {
	char name[64];
	uint32_t id;
	uint64_t run_time_ns;
	uint64_t run_cnt;
	uint64_t recursion_misses;
};
/* fills up to cap entries, returns the number of programs or -errno */
int kiln_obj_prog_stats(struct kiln_obj *o, struct kiln_prog_stat *out, int cap);
/* Turn on the kernel's run-time accounting for as long as the process lives. */
int kiln_enable_bpf_stats(void);
/* Consumes every record available in the ring buffer map `map` (the first call sets it up). *data
 * holds records as u32 length, then the bytes, padded to 8; valid until the next call. */
int kiln_obj_ringbuf_consume(struct kiln_obj *o, const char *map, const uint8_t **data, size_t *len);
void kiln_obj_close(struct kiln_obj *o);
#endif
