/* Thin N-API glue over kiln_bpf.c and libiberty's demangler. Argument checking that matters to
 * users lives in the TypeScript wrapper (native/index.ts); here a bad call throws a TypeError and
 * a failed kernel call throws an Error whose `code` is the errno name (e.g. 'EPERM'). */
#define NAPI_VERSION 8
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <node_api.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libiberty/demangle.h>
#include "kiln_bpf.h"
#include <linux/types.h>
#include <stddef.h>
#include "profile.h"
#include "runq.h"
#include "tcp.h"
#include "dns.h"

#define NAPI_CALL(env, call)                                                        \
	do {                                                                        \
		if ((call) != napi_ok) {                                            \
			const napi_extended_error_info *info_;                      \
			napi_get_last_error_info((env), &info_);                    \
			bool pending_;                                              \
			napi_is_exception_pending((env), &pending_);                \
			if (!pending_)                                              \
				napi_throw_error((env), NULL,                       \
						 info_->error_message ? info_->error_message : "N-API call failed"); \
			return NULL;                                                \
		}                                                                   \
	} while (0)

#define ARGS(n)                                                                     \
	size_t argc = n;                                                            \
	napi_value argv[n];                                                         \
	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));       \
	if (argc < n) {                                                             \
		napi_throw_type_error(env, NULL, "wrong number of arguments");      \
		return NULL;                                                        \
	}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case 524: return "ENOTSUPP";
	default: return "EUNKNOWN";
	}
}

static napi_value throw_errno(napi_env env, int err, const char *what)
{
	int e = err < 0 ? -err : err;
	char msg[8192 + 256];
	const char *log = kiln_last_log();
	snprintf(msg, sizeof(msg), "%s: %s (%s)%s%s", what, strerror(e), errno_name(e), log[0] ? "\n" : "", log);
	napi_value code, message, error, errnum;
	napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
	napi_create_error(env, code, message, &error);
	napi_create_int32(env, -e, &errnum);
	napi_set_named_property(env, error, "errno", errnum);
	napi_throw(env, error);
	return NULL;
}

static char *get_string(napi_env env, napi_value v)
{
	size_t len;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a string");
		return NULL;
	}
	char *s = malloc(len + 1);
	if (!s)
		return NULL;
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	return s;
}

static struct kiln_obj *get_obj(napi_env env, napi_value v)
{
	struct kiln_obj *o = NULL;
	if (napi_get_value_external(env, v, (void **)&o) != napi_ok || !o) {
		napi_throw_type_error(env, NULL, "expected an open BPF object handle");
		return NULL;
	}
	return o;
}

/* Objects are closed explicitly with close(); the finalizer only catches a forgotten handle.
 * A closed handle is marked by swapping the external's data pointer into this table. */
#define MAX_OBJS 64
static struct kiln_obj *open_objs[MAX_OBJS];

static void obj_finalize(napi_env env, void *data, void *hint)
{
	(void)env; (void)hint;
	for (int i = 0; i < MAX_OBJS; i++)
		if (open_objs[i] == data) {
			open_objs[i] = NULL;
			kiln_obj_close(data);
		}
}

static int obj_is_open(struct kiln_obj *o)
{
	for (int i = 0; i < MAX_OBJS; i++)
		if (open_objs[i] == o)
			return 1;
	return 0;
}

#define GET_OBJ(idx)                                                                \
	struct kiln_obj *o = get_obj(env, argv[idx]);                               \
	if (!o)                                                                     \
		return NULL;                                                        \
	if (!obj_is_open(o)) {                                                      \
		napi_throw_error(env, "EBADF", "BPF object is closed");             \
		return NULL;                                                        \
	}

static napi_value js_open(napi_env env, napi_callback_info info)
{
	ARGS(1);
	char *name = get_string(env, argv[0]);
	if (!name)
		return NULL;
	int slot = -1;
	for (int i = 0; i < MAX_OBJS; i++)
		if (!open_objs[i]) {
			slot = i;
			break;
		}
	if (slot < 0) {
		free(name);
		return throw_errno(env, EMFILE, "too many open BPF objects");
	}
	struct kiln_obj *o = NULL;
	int err = kiln_obj_open(name, &o);
	free(name);
	if (err)
		return throw_errno(env, err, "open BPF object");
	open_objs[slot] = o;
	napi_value ext;
	NAPI_CALL(env, napi_create_external(env, o, obj_finalize, NULL, &ext));
	return ext;
}

static napi_value js_close(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct kiln_obj *o = get_obj(env, argv[0]);
	if (!o)
		return NULL;
	for (int i = 0; i < MAX_OBJS; i++)
		if (open_objs[i] == o) {
			open_objs[i] = NULL;
			kiln_obj_close(o);
		}
	return NULL;
}

static napi_value js_set_max_entries(napi_env env, napi_callback_info info)
{
	ARGS(3);
	GET_OBJ(0);
	char *map = get_string(env, argv[1]);
	if (!map)
		return NULL;
	uint32_t n;
	if (napi_get_value_uint32(env, argv[2], &n) != napi_ok) {
		free(map);
		napi_throw_type_error(env, NULL, "max entries must be a number");
		return NULL;
	}
	int err = kiln_obj_set_max_entries(o, map, n);
	free(map);
	if (err)
		return throw_errno(env, err, "set map size");
	return NULL;
}

static napi_value js_reuse_map(napi_env env, napi_callback_info info)
{
	ARGS(3);
	GET_OBJ(0);
	char *map = get_string(env, argv[1]);
	if (!map)
		return NULL;
	int32_t fd;
	if (napi_get_value_int32(env, argv[2], &fd) != napi_ok) {
		free(map);
		napi_throw_type_error(env, NULL, "map fd must be a number");
		return NULL;
	}
	int err = kiln_obj_reuse_map(o, map, fd);
	free(map);
	if (err)
		return throw_errno(env, err, "reuse map");
	return NULL;
}

static napi_value js_set_global(napi_env env, napi_callback_info info)
{
	ARGS(3);
	GET_OBJ(0);
	void *data;
	size_t len;
	if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
		napi_throw_type_error(env, NULL, "value must be a Buffer");
		return NULL;
	}
	char *var = get_string(env, argv[1]);
	if (!var)
		return NULL;
	int err = kiln_obj_set_global(o, var, data, len);
	free(var);
	if (err)
		return throw_errno(env, err, "set BPF global");
	return NULL;
}

static napi_value js_load(napi_env env, napi_callback_info info)
{
	ARGS(1);
	GET_OBJ(0);
	int err = kiln_obj_load(o);
	if (err)
		return throw_errno(env, err, "load BPF object");
	return NULL;
}

static napi_value js_attach_cpu_clock(napi_env env, napi_callback_info info)
{
	ARGS(4);
	GET_OBJ(0);
	int32_t cpu;
	int64_t period;
	if (napi_get_value_int32(env, argv[2], &cpu) != napi_ok ||
	    napi_get_value_int64(env, argv[3], &period) != napi_ok || period <= 0) {
		napi_throw_type_error(env, NULL, "cpu and period must be numbers");
		return NULL;
	}
	char *prog = get_string(env, argv[1]);
	if (!prog)
		return NULL;
	int err = kiln_obj_attach_cpu_clock(o, prog, cpu, (uint64_t)period);
	free(prog);
	if (err)
		return throw_errno(env, err, "perf_event_open cpu-clock");
	return NULL;
}

static napi_value js_attach(napi_env env, napi_callback_info info)
{
	ARGS(2);
	GET_OBJ(0);
	char *prog = get_string(env, argv[1]);
	if (!prog)
		return NULL;
	int err = kiln_obj_attach(o, prog);
	free(prog);
	if (err)
		return throw_errno(env, err, "attach BPF program");
	return NULL;
}

static napi_value make_u32(napi_env env, uint32_t v)
{
	napi_value r;
	napi_create_uint32(env, v, &r);
	return r;
}

static napi_value js_map_info(napi_env env, napi_callback_info info)
{
	ARGS(2);
	GET_OBJ(0);
	char *map = get_string(env, argv[1]);
	if (!map)
		return NULL;
	uint32_t ks, vs, me, type;
	int fd = kiln_obj_map_fd(o, map, &ks, &vs, &me, &type);
	free(map);
	if (fd < 0)
		return throw_errno(env, fd, "find BPF map");
	napi_value r;
	NAPI_CALL(env, napi_create_object(env, &r));
	napi_set_named_property(env, r, "fd", make_u32(env, fd));
	napi_set_named_property(env, r, "keySize", make_u32(env, ks));
	napi_set_named_property(env, r, "valueSize", make_u32(env, vs));
	napi_set_named_property(env, r, "maxEntries", make_u32(env, me));
	napi_set_named_property(env, r, "type", make_u32(env, type));
	return r;
}

/* mapDrain / mapDump (fd, keySize, valueSize, cap) -> { keys: Buffer, values: Buffer, count } */
static napi_value batch_read(napi_env env, napi_callback_info info, int delete)
{
	ARGS(4);
	uint32_t fd, ks, vs, cap;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok || napi_get_value_uint32(env, argv[1], &ks) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &vs) != napi_ok || napi_get_value_uint32(env, argv[3], &cap) != napi_ok) {
		napi_throw_type_error(env, NULL, "mapDrain(fd, keySize, valueSize, cap)");
		return NULL;
	}
	void *keys = malloc((size_t)ks * cap), *vals = malloc((size_t)vs * cap);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return throw_errno(env, ENOMEM, "map drain buffers");
	}
	uint32_t count = 0;
	int err = delete ? kiln_map_drain((int)fd, ks, vs, cap, keys, vals, &count)
			 : kiln_map_dump((int)fd, ks, vs, cap, keys, vals, &count);
	if (err && count == 0) {
		free(keys);
		free(vals);
		return throw_errno(env, err, delete ? "drain BPF map" : "read BPF map");
	}
	napi_value r, kb, vb;
	void *kd, *vd;
	NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)ks * count, keys, &kd, &kb));
	NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)vs * count, vals, &vd, &vb));
	free(keys);
	free(vals);
	NAPI_CALL(env, napi_create_object(env, &r));
	napi_set_named_property(env, r, "keys", kb);
	napi_set_named_property(env, r, "values", vb);
	napi_set_named_property(env, r, "count", make_u32(env, count));
	return r;
}

static napi_value js_map_drain(napi_env env, napi_callback_info info) { return batch_read(env, info, 1); }
static napi_value js_map_dump(napi_env env, napi_callback_info info) { return batch_read(env, info, 0); }

/* mapTake(fd, keys: Buffer, keySize, valueSize) -> { values: Buffer, found: Buffer(u8 per key) }
 * Looks up and deletes each key (for map types without batch support, or to take a known set). */
static napi_value js_map_take(napi_env env, napi_callback_info info)
{
	ARGS(4);
	uint32_t fd, ks, vs;
	void *keys;
	size_t klen;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok ||
	    napi_get_buffer_info(env, argv[1], &keys, &klen) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &ks) != napi_ok || napi_get_value_uint32(env, argv[3], &vs) != napi_ok ||
	    ks == 0 || klen % ks) {
		napi_throw_type_error(env, NULL, "mapTake(fd, keys, keySize, valueSize)");
		return NULL;
	}
	size_t n = klen / ks;
	napi_value r, vb, fb;
	void *vd, *fdp;
	NAPI_CALL(env, napi_create_buffer(env, n * vs, &vd, &vb));
	NAPI_CALL(env, napi_create_buffer(env, n, &fdp, &fb));
	memset(vd, 0, n * vs);
	for (size_t i = 0; i < n; i++) {
		const char *k = (const char *)keys + i * ks;
		char *v = (char *)vd + i * vs;
		int found = bpf_map_lookup_elem((int)fd, k, v) == 0;
		((uint8_t *)fdp)[i] = found;
		if (found)
			bpf_map_delete_elem((int)fd, k);
	}
	NAPI_CALL(env, napi_create_object(env, &r));
	napi_set_named_property(env, r, "values", vb);
	napi_set_named_property(env, r, "found", fb);
	return r;
}

/* mapDelete(fd, key) -> boolean (false: no such key) */
static napi_value js_map_delete(napi_env env, napi_callback_info info)
{
	ARGS(2);
	uint32_t fd;
	void *key;
	size_t klen;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &klen) != napi_ok) {
		napi_throw_type_error(env, NULL, "mapDelete(fd, key)");
		return NULL;
	}
	napi_value r;
	if (bpf_map_delete_elem((int)fd, key)) {
		if (errno != ENOENT)
			return throw_errno(env, errno, "BPF map delete");
		NAPI_CALL(env, napi_get_boolean(env, false, &r));
		return r;
	}
	NAPI_CALL(env, napi_get_boolean(env, true, &r));
	return r;
}

/* mapLookup(fd, key, valueSize) -> Buffer | null */
static napi_value js_map_lookup(napi_env env, napi_callback_info info)
{
	ARGS(3);
	uint32_t fd, vs;
	void *key;
	size_t klen;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &klen) != napi_ok ||
	    napi_get_value_uint32(env, argv[2], &vs) != napi_ok) {
		napi_throw_type_error(env, NULL, "mapLookup(fd, key, valueSize)");
		return NULL;
	}
	napi_value vb;
	void *vd;
	NAPI_CALL(env, napi_create_buffer(env, vs, &vd, &vb));
	if (bpf_map_lookup_elem((int)fd, key, vd)) {
		if (errno == ENOENT) {
			napi_value nul;
			napi_get_null(env, &nul);
			return nul;
		}
		return throw_errno(env, errno, "BPF map lookup");
	}
	return vb;
}

/* mapUpdate(fd, key, value, flags) */
static napi_value js_map_update(napi_env env, napi_callback_info info)
{
	ARGS(4);
	uint32_t fd, flags;
	void *key, *val;
	size_t klen, vlen;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &key, &klen) != napi_ok ||
	    napi_get_buffer_info(env, argv[2], &val, &vlen) != napi_ok || napi_get_value_uint32(env, argv[3], &flags) != napi_ok) {
		napi_throw_type_error(env, NULL, "mapUpdate(fd, key, value, flags)");
		return NULL;
	}
	if (bpf_map_update_elem((int)fd, key, val, flags))
		return throw_errno(env, errno, "BPF map update");
	return NULL;
}

/* mapUpdateBatch(fd, keys, values, keySize, valueSize): writes every (key, value) pair with batch calls */
static napi_value js_map_update_batch(napi_env env, napi_callback_info info)
{
	ARGS(5);
	uint32_t fd, ks, vs;
	void *keys, *vals;
	size_t klen, vlen;
	if (napi_get_value_uint32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &keys, &klen) != napi_ok ||
	    napi_get_buffer_info(env, argv[2], &vals, &vlen) != napi_ok || napi_get_value_uint32(env, argv[3], &ks) != napi_ok ||
	    napi_get_value_uint32(env, argv[4], &vs) != napi_ok || ks == 0 || vs == 0 || klen % ks || vlen % vs ||
	    klen / ks != vlen / vs) {
		napi_throw_type_error(env, NULL, "mapUpdateBatch(fd, keys, values, keySize, valueSize)");
		return NULL;
	}
	int err = kiln_map_update_batch((int)fd, keys, vals, (uint32_t)(klen / ks), ks, vs);
	if (err)
		return throw_errno(env, -err, "BPF map batch update");
	return NULL;
}

/* ringbufConsume(obj, map) -> Buffer of records (u32 length, bytes, padded to 8), copied */
static napi_value js_ringbuf_consume(napi_env env, napi_callback_info info)
{
	ARGS(2);
	GET_OBJ(0);
	char *map = get_string(env, argv[1]);
	if (!map)
		return NULL;
	const uint8_t *data = NULL;
	size_t len = 0;
	int err = kiln_obj_ringbuf_consume(o, map, &data, &len);
	free(map);
	if (err)
		return throw_errno(env, err, "BPF ring buffer consume");
	napi_value buf;
	NAPI_CALL(env, napi_create_buffer_copy(env, len, len ? data : (const uint8_t *)"", NULL, &buf));
	return buf;
}

static napi_value js_prog_stats(napi_env env, napi_callback_info info)
{
	ARGS(1);
	GET_OBJ(0);
	struct kiln_prog_stat st[32];
	int n = kiln_obj_prog_stats(o, st, 32);
	if (n < 0)
		return throw_errno(env, n, "BPF program info");
	if (n > 32)
		n = 32;
	napi_value arr;
	NAPI_CALL(env, napi_create_array_with_length(env, n, &arr));
	for (int i = 0; i < n; i++) {
		napi_value e, name, rt, rc, rm;
		napi_create_object(env, &e);
		napi_create_string_utf8(env, st[i].name, NAPI_AUTO_LENGTH, &name);
		napi_create_bigint_uint64(env, st[i].run_time_ns, &rt);
		napi_create_bigint_uint64(env, st[i].run_cnt, &rc);
		napi_create_bigint_uint64(env, st[i].recursion_misses, &rm);
		napi_set_named_property(env, e, "name", name);
		napi_set_named_property(env, e, "id", make_u32(env, st[i].id));
		napi_set_named_property(env, e, "runTimeNs", rt);
		napi_set_named_property(env, e, "runCount", rc);
		napi_set_named_property(env, e, "recursionMisses", rm);
		napi_set_element(env, arr, i, e);
	}
	return arr;
}

static napi_value js_enable_stats(napi_env env, napi_callback_info info)
{
	(void)info;
	int err = kiln_enable_bpf_stats();
	if (err)
		return throw_errno(env, err, "enable BPF run-time statistics");
	return NULL;
}

/* bootTimeOffsetNs() -> BigInt: CLOCK_REALTIME minus CLOCK_BOOTTIME, read back to back; adds to a
 * bpf_ktime_get_boot_ns() time to give unix nanoseconds. */
static napi_value js_boot_time_offset_ns(napi_env env, napi_callback_info info)
{
	(void)info;
	struct timespec b1, r, b2;
	clock_gettime(CLOCK_BOOTTIME, &b1);
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b2);
	int64_t boot = ((int64_t)b1.tv_sec * 1000000000LL + b1.tv_nsec + (int64_t)b2.tv_sec * 1000000000LL + b2.tv_nsec) / 2;
	int64_t real = (int64_t)r.tv_sec * 1000000000LL + r.tv_nsec;
	napi_value v;
	NAPI_CALL(env, napi_create_bigint_int64(env, real - boot, &v));
	return v;
}

static napi_value js_num_possible_cpus(napi_env env, napi_callback_info info)
{
	(void)info;
	int n = libbpf_num_possible_cpus();
	if (n < 0)
		return throw_errno(env, n, "count possible CPUs");
	return make_u32(env, n);
}

/* demangle(symbol) -> string | null: Rust (legacy and v0) first, then C++ (Itanium ABI). */
static napi_value js_demangle(napi_env env, napi_callback_info info)
{
	ARGS(1);
	char *s = get_string(env, argv[0]);
	if (!s)
		return NULL;
	char *d = NULL;
	if (s[0] == '_' && (s[1] == 'R' || s[1] == 'Z'))
		d = rust_demangle(s, DMGL_PARAMS | DMGL_ANSI);
	if (!d && s[0] == '_' && s[1] == 'Z')
		d = cplus_demangle(s, DMGL_PARAMS | DMGL_ANSI);
	free(s);
	napi_value r;
	if (!d) {
		napi_get_null(env, &r);
		return r;
	}
	napi_create_string_utf8(env, d, NAPI_AUTO_LENGTH, &r);
	free(d);
	return r;
}

static void set_layout_field(napi_env env, napi_value obj, const char *name, size_t off)
{
	napi_set_named_property(env, obj, name, make_u32(env, (uint32_t)off));
}

#define FIELD(obj, type, field) set_layout_field(env, obj, #field, offsetof(struct type, field))

/* Struct layouts from the shared headers, so tests can check the TypeScript decoders. */
static napi_value make_layouts(napi_env env)
{
	napi_value all, pk, ps;
	napi_create_object(env, &all);
	napi_create_object(env, &pk);
	set_layout_field(env, pk, "size", sizeof(struct profile_key));
	FIELD(pk, profile_key, tgid);
	FIELD(pk, profile_key, flags);
	FIELD(pk, profile_key, cgroup_id);
	FIELD(pk, profile_key, user_stack_hash);
	FIELD(pk, profile_key, kernel_stack_hash);
	FIELD(pk, profile_key, exe_ino);
	FIELD(pk, profile_key, start_stack);
	FIELD(pk, profile_key, unix_sec);
	FIELD(pk, profile_key, comm);
	napi_set_named_property(env, all, "profile_key", pk);
	napi_create_object(env, &ps);
	set_layout_field(env, ps, "size", sizeof(struct profile_stack));
	FIELD(ps, profile_stack, ips);
	FIELD(ps, profile_stack, depth);
	napi_set_named_property(env, all, "profile_stack", ps);
	napi_value ek;
	napi_create_object(env, &ek);
	set_layout_field(env, ek, "size", sizeof(struct egress_key));
	FIELD(ek, egress_key, k);
	FIELD(ek, egress_key, daddr);
	FIELD(ek, egress_key, dport);
	FIELD(ek, egress_key, family);
	napi_set_named_property(env, all, "egress_key", ek);
	napi_value ur, ut, um, up;
	napi_create_object(env, &ur);
	set_layout_field(env, ur, "size", sizeof(struct unwind_row));
	FIELD(ur, unwind_row, pc);
	FIELD(ur, unwind_row, cfa_off8);
	FIELD(ur, unwind_row, kind);
	FIELD(ur, unwind_row, rbp_off8);
	napi_set_named_property(env, all, "unwind_row", ur);
	napi_create_object(env, &ut);
	set_layout_field(env, ut, "size", sizeof(struct unwind_table));
	FIELD(ut, unwind_table, first);
	FIELD(ut, unwind_table, rows);
	napi_set_named_property(env, all, "unwind_table", ut);
	napi_create_object(env, &um);
	set_layout_field(env, um, "size", sizeof(struct unwind_mapping));
	FIELD(um, unwind_mapping, start);
	FIELD(um, unwind_mapping, end);
	FIELD(um, unwind_mapping, bias);
	FIELD(um, unwind_mapping, table);
	napi_set_named_property(env, all, "unwind_mapping", um);
	napi_create_object(env, &up);
	set_layout_field(env, up, "size", sizeof(struct unwind_proc));
	FIELD(up, unwind_proc, image);
	FIELD(up, unwind_proc, refresh_after_ns);
	FIELD(up, unwind_proc, count);
	FIELD(up, unwind_proc, maps);
	napi_set_named_property(env, all, "unwind_proc", up);
	napi_value uq;
	napi_create_object(env, &uq);
	set_layout_field(env, uq, "size", sizeof(struct unwind_request_value));
	FIELD(uq, unwind_request_value, reason);
	FIELD(uq, unwind_request_value, samples);
	napi_set_named_property(env, all, "unwind_request_value", uq);
	napi_value rh;
	napi_create_object(env, &rh);
	set_layout_field(env, rh, "size", sizeof(struct runq_hist));
	FIELD(rh, runq_hist, slots);
	FIELD(rh, runq_hist, total_ns);
	FIELD(rh, runq_hist, count);
	napi_set_named_property(env, all, "runq_hist", rh);
	napi_value rk;
	napi_create_object(env, &rk);
	set_layout_field(env, rk, "size", sizeof(struct runq_key));
	FIELD(rk, runq_key, cgroup_id);
	FIELD(rk, runq_key, tgid);
	FIELD(rk, runq_key, flags);
	FIELD(rk, runq_key, comm);
	napi_set_named_property(env, all, "runq_key", rk);
	napi_value tc;
	napi_create_object(env, &tc);
	set_layout_field(env, tc, "size", sizeof(struct tcp_conn));
	FIELD(tc, tcp_conn, tgid);
	FIELD(tc, tcp_conn, flags);
	FIELD(tc, tcp_conn, cgroup_id);
	FIELD(tc, tcp_conn, comm);
	FIELD(tc, tcp_conn, saddr);
	FIELD(tc, tcp_conn, daddr);
	FIELD(tc, tcp_conn, sport);
	FIELD(tc, tcp_conn, dport);
	FIELD(tc, tcp_conn, family);
	FIELD(tc, tcp_conn, bytes_sent);
	FIELD(tc, tcp_conn, bytes_received);
	FIELD(tc, tcp_conn, retransmits);
	FIELD(tc, tcp_conn, opened_ns);
	FIELD(tc, tcp_conn, egress_left);
	napi_set_named_property(env, all, "tcp_conn", tc);
	napi_value de;
	napi_create_object(env, &de);
	set_layout_field(env, de, "size", sizeof(struct dns_event));
	FIELD(de, dns_event, ts_ns);
	FIELD(de, dns_event, sock);
	FIELD(de, dns_event, cgroup_id);
	FIELD(de, dns_event, tgid);
	FIELD(de, dns_event, pid);
	FIELD(de, dns_event, len);
	FIELD(de, dns_event, caplen);
	FIELD(de, dns_event, dir);
	FIELD(de, dns_event, proto);
	FIELD(de, dns_event, family);
	FIELD(de, dns_event, port);
	FIELD(de, dns_event, flags);
	FIELD(de, dns_event, addr);
	FIELD(de, dns_event, comm);
	FIELD(de, dns_event, data);
	napi_set_named_property(env, all, "dns_event", de);
	return all;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
		{ "setMaxEntries", NULL, js_set_max_entries, NULL, NULL, NULL, napi_default, NULL },
		{ "reuseMap", NULL, js_reuse_map, NULL, NULL, NULL, napi_default, NULL },
		{ "setGlobal", NULL, js_set_global, NULL, NULL, NULL, napi_default, NULL },
		{ "load", NULL, js_load, NULL, NULL, NULL, napi_default, NULL },
		{ "attachCpuClock", NULL, js_attach_cpu_clock, NULL, NULL, NULL, napi_default, NULL },
		{ "attach", NULL, js_attach, NULL, NULL, NULL, napi_default, NULL },
		{ "mapInfo", NULL, js_map_info, NULL, NULL, NULL, napi_default, NULL },
		{ "mapDrain", NULL, js_map_drain, NULL, NULL, NULL, napi_default, NULL },
		{ "mapDump", NULL, js_map_dump, NULL, NULL, NULL, napi_default, NULL },
		{ "mapTake", NULL, js_map_take, NULL, NULL, NULL, napi_default, NULL },
		{ "mapLookup", NULL, js_map_lookup, NULL, NULL, NULL, napi_default, NULL },
		{ "mapUpdate", NULL, js_map_update, NULL, NULL, NULL, napi_default, NULL },
		{ "mapDelete", NULL, js_map_delete, NULL, NULL, NULL, napi_default, NULL },
		{ "mapUpdateBatch", NULL, js_map_update_batch, NULL, NULL, NULL, napi_default, NULL },
		{ "ringbufConsume", NULL, js_ringbuf_consume, NULL, NULL, NULL, napi_default, NULL },
		{ "progStats", NULL, js_prog_stats, NULL, NULL, NULL, napi_default, NULL },
		{ "enableStats", NULL, js_enable_stats, NULL, NULL, NULL, napi_default, NULL },
		{ "numPossibleCpus", NULL, js_num_possible_cpus, NULL, NULL, NULL, napi_default, NULL },
		{ "bootTimeOffsetNs", NULL, js_boot_time_offset_ns, NULL, NULL, NULL, napi_default, NULL },
		{ "demangle", NULL, js_demangle, NULL, NULL, NULL, napi_default, NULL },
	};
	NAPI_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	napi_set_named_property(env, exports, "layouts", make_layouts(env));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
