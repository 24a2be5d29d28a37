#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kiln_bpf.h"
#include "skeletons.h"

#define MAX_LINKS 1024

struct kiln_obj {
	struct bpf_object *obj;
	/* a perf-event link owns its perf event fd: bpf_link__destroy() disables and closes it. Closing it
	 * again here closed whatever the process had opened under that number since (the embedded store's
	 * epoll and files: "Bad file descriptor" from its inserts, then an abort at exit) */
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
	/* one ring buffer map consumed into a growable buffer (records: u32 length, bytes, padded to 8) */
	struct ring_buffer *rb;
	uint8_t *rb_buf;
	size_t rb_len, rb_cap;
	int rb_err;
};

/* Keep the tail of libbpf's output (the verifier log ends with the reason). */
static char log_buf[8192];
static size_t log_len;

static void log_append(const char *s, size_t n)
{
	/* keep the tail: the verifier's reason comes last */
	if (n >= sizeof(log_buf)) {
		s += n - (sizeof(log_buf) - 1);
		n = sizeof(log_buf) - 1;
	}
	if (log_len + n >= sizeof(log_buf)) {
		size_t drop = log_len + n - (sizeof(log_buf) - 1);
		memmove(log_buf, log_buf + drop, log_len - drop);
		log_len -= drop;
	}
	memcpy(log_buf + log_len, s, n);
	log_len += n;
	log_buf[log_len] = 0;
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	va_list copy;
	va_copy(copy, args);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n <= 0)
		return 0;
	char *line = malloc((size_t)n + 1);
	if (!line)
		return 0;
	vsnprintf(line, (size_t)n + 1, fmt, args);
	log_append(line, (size_t)n);
	free(line);
	return 0;
}

const char *kiln_last_log(void) { return log_buf; }
void kiln_clear_log(void) { log_len = 0; log_buf[0] = 0; }

int kiln_obj_open(const char *name, struct kiln_obj **out)
{
	static int print_set;
	if (!print_set) {
		libbpf_set_print(print_fn);
		print_set = 1;
	}
	const struct kiln_embedded_obj *e = kiln_find_embedded(name);
	if (!e)
		return -ENOENT;
	size_t sz = 0;
	const void *bytes = e->elf_bytes(&sz);
	struct kiln_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = e->name);
	o->obj = bpf_object__open_mem(bytes, sz, &opts);
	if (!o->obj) {
		int err = -errno;
		free(o);
		return err ? err : -EINVAL;
	}
	*out = o;
	return 0;
}

int kiln_obj_set_max_entries(struct kiln_obj *o, const char *map, uint32_t n)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, map);
	if (!m)
		return -ENOENT;
	return bpf_map__set_max_entries(m, n);
}

/* Before load: the object uses an existing map (another object's) instead of creating its own. libbpf
 * keeps a duplicate of `fd`, closed with this object; the caller's stays the caller's. */
int kiln_obj_reuse_map(struct kiln_obj *o, const char *map, int fd)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, map);
	if (!m)
		return -ENOENT;
	return bpf_map__reuse_fd(m, fd);
}

/* Find a `const volatile` (or .bss/.data) global by name through the object's BTF datasecs
 * and write its initial value before load. */
int kiln_obj_set_global(struct kiln_obj *o, const char *var, const void *val, size_t sz)
{
	struct btf *btf = bpf_object__btf(o->obj);
	if (!btf)
		return -ENOENT;
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj) {
		if (!bpf_map__is_internal(m))
			continue;
		const char *mname = bpf_map__name(m);
		const char *sec = strchr(mname, '.');
		if (!sec)
			continue;
		int id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
		if (id < 0)
			continue;
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vs = (const struct btf_var_secinfo *)btf_var_secinfos(t);
		for (int i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *vt = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, vt->name_off), var) != 0)
				continue;
			if (vs->size != sz)
				return -EINVAL;
			size_t total = 0;
			char *data = (char *)bpf_map__initial_value(m, &total);
			if (!data || vs->offset + sz > total)
				return -EINVAL;
			memcpy(data + vs->offset, val, sz);
			return 0;
		}
	}
	return -ENOENT;
}

int kiln_obj_load(struct kiln_obj *o)
{
	kiln_clear_log();
	int err = bpf_object__load(o->obj);
	return err < 0 ? err : 0;
}

static int add_link(struct kiln_obj *o, struct bpf_link *l)
{
	if (o->nlinks >= MAX_LINKS) {
		bpf_link__destroy(l);
		return -E2BIG;
	}
	o->links[o->nlinks++] = l;
	return 0;
}

int kiln_obj_attach_cpu_clock(struct kiln_obj *o, const char *prog, int cpu, uint64_t period_ns)
{
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, prog);
	if (!p)
		return -ENOENT;
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		.sample_period = period_ns,
		.freq = 0,
	};
	int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct bpf_link *l = bpf_program__attach_perf_event(p, fd);
	if (!l) {
		int err = -errno;
		close(fd);
		return err ? err : -EINVAL;
	}
	return add_link(o, l); /* the link now owns fd */
}

int kiln_obj_attach(struct kiln_obj *o, const char *prog)
{
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, prog);
	if (!p)
		return -ENOENT;
	struct bpf_link *l = bpf_program__attach(p);
	if (!l) {
		int err = -errno;
		return err ? err : -EINVAL;
	}
	return add_link(o, l);
}

int kiln_obj_map_fd(struct kiln_obj *o, const char *map, uint32_t *key_size, uint32_t *value_size,
		    uint32_t *max_entries, uint32_t *type)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, map);
	if (!m)
		return -ENOENT;
	int fd = bpf_map__fd(m);
	if (fd < 0)
		return -EBADF;
	*key_size = bpf_map__key_size(m);
	*value_size = bpf_map__value_size(m);
	*max_entries = bpf_map__max_entries(m);
	*type = bpf_map__type(m);
	return fd;
}

/* Batch-reads every entry of a hash map, deleting what it reads when `delete`. */
static int map_batch(int fd, uint32_t key_size, uint32_t value_size, uint32_t cap, void *keys, void *vals,
		     uint32_t *count, int delete)
{
	uint64_t in_batch = 0, out_batch = 0;
	int first = 1;
	uint32_t total = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	for (;;) {
		uint32_t n = cap - total;
		if (n == 0)
			break;
		void *k = (char *)keys + (size_t)total * key_size;
		void *v = (char *)vals + (size_t)total * value_size;
		int err = delete ? bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in_batch, &out_batch, k, v, &n, &opts)
				 : bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, k, v, &n, &opts);
		int e = err ? errno : 0;
		total += n;
		if (err) {
			if (e == ENOENT)
				break; /* walked every bucket */
			*count = total;
			return -e;
		}
		in_batch = out_batch;
		first = 0;
	}
	*count = total;
	return 0;
}

int kiln_map_drain(int fd, uint32_t key_size, uint32_t value_size, uint32_t cap, void *keys, void *vals,
		   uint32_t *count)
{
	return map_batch(fd, key_size, value_size, cap, keys, vals, count, 1);
}

int kiln_map_dump(int fd, uint32_t key_size, uint32_t value_size, uint32_t cap, void *keys, void *vals,
		  uint32_t *count)
{
	return map_batch(fd, key_size, value_size, cap, keys, vals, count, 0);
}

int kiln_map_update_batch(int fd, const void *keys, const void *vals, uint32_t n, uint32_t key_size, uint32_t value_size)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t done = 0;
	while (done < n) {
		/* the kernel may take fewer than asked: go on from where it stopped */
		uint32_t count = n - done;
		int err = bpf_map_update_batch(fd, (const char *)keys + (size_t)done * key_size,
					       (const char *)vals + (size_t)done * value_size, &count, &opts);
		done += count;
		if (err && done < n)
			return -errno;
		if (count == 0 && done < n)
			return -EIO;
	}
	return 0;
}

int kiln_obj_prog_stats(struct kiln_obj *o, struct kiln_prog_stat *out, int cap)
{
	struct bpf_program *p;
	int n = 0;
	bpf_object__for_each_program(p, o->obj) {
		int fd = bpf_program__fd(p);
		if (fd < 0)
			continue;
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			return -errno;
		if (n < cap) {
			snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(p));
			out[n].id = info.id;
			out[n].run_time_ns = info.run_time_ns;
			out[n].run_cnt = info.run_cnt;
			out[n].recursion_misses = info.recursion_misses;
		}
		n++;
	}
	return n;
}

int kiln_enable_bpf_stats(void)
{
	static int stats_fd = -1;
	if (stats_fd >= 0)
		return 0;
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0)
		return -errno;
	stats_fd = fd; /* held open for the life of the process */
	return 0;
}

void kiln_obj_close(struct kiln_obj *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->nlinks; i++)
		bpf_link__destroy(o->links[i]);
	ring_buffer__free(o->rb);
	free(o->rb_buf);
	bpf_object__close(o->obj);
	free(o);
}

static int rb_sample(void *ctx, void *data, size_t size)
{
	struct kiln_obj *o = ctx;
	size_t need = o->rb_len + 4 + ((size + 7) & ~(size_t)7);
	if (need > o->rb_cap) {
		size_t cap = o->rb_cap ? o->rb_cap : 1 << 16;
		while (cap < need)
			cap *= 2;
		uint8_t *b = realloc(o->rb_buf, cap);
		if (!b) {
			o->rb_err = -ENOMEM;
			return 0; /* the record is consumed either way; the error is reported after */
		}
		o->rb_buf = b;
		o->rb_cap = cap;
	}
	uint32_t n = (uint32_t)size;
	memcpy(o->rb_buf + o->rb_len, &n, 4);
	memcpy(o->rb_buf + o->rb_len + 4, data, size);
	o->rb_len += 4 + ((size + 7) & ~(size_t)7);
	return 0;
}

int kiln_obj_ringbuf_consume(struct kiln_obj *o, const char *map, const uint8_t **data, size_t *len)
{
	if (!o->rb) {
		struct bpf_map *m = bpf_object__find_map_by_name(o->obj, map);
		if (!m)
			return -ENOENT;
		o->rb = ring_buffer__new(bpf_map__fd(m), rb_sample, o, NULL);
		if (!o->rb)
			return errno ? -errno : -EINVAL;
	}
	o->rb_len = 0;
	o->rb_err = 0;
	int n = ring_buffer__consume(o->rb);
	if (n < 0)
		return n;
	if (o->rb_err)
		return o->rb_err;
	*data = o->rb_buf;
	*len = o->rb_len;
	return 0;
}
