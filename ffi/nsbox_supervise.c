/*
 * nsbox_supervise.c - the native supervisor (see "supervisor" in
 * nsbox_helper.h), linked into the static binary with nsbox-init.
 *
 * It takes over a running sandbox from nsbox's TypeScript side: waits for
 * PID 1, forwards signals, does the terminal job control, and replays the
 * teardown ops it was handed. Every word it prints comes from a template in
 * its config. No malloc, no stdio: a few pages of its own, however long the
 * sandbox runs.
 */
#define _GNU_SOURCE
#include "nsbox_helper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h> /* getenv (the test build's fault injection) */
#include <stdio.h> /* rename, renameat: no stdio streams are used */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/nsfs.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int nsbox_supervise_main(int argc, char **argv);

static _Alignas(8) char cfgbuf[NSBOX_SV_MAX_CONFIG];
static const struct nsbox_sv_config *cfg;

/* ---------------------------------------------------------------- small helpers */

static const char *str(uint32_t off) {
  return off == 0 || off >= cfg->size ? NULL : cfgbuf + off;
}

/* The n-th of `count` NUL-terminated strings starting at offset off (NULL: none, or empty). */
static const char *nth(uint32_t off, uint32_t count, uint32_t n) {
  const char *p = str(off), *end = cfgbuf + cfg->size;
  if (!p || n >= count) return NULL;
  for (; n > 0; n--) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul || nul + 1 >= end) return NULL;
    p = nul + 1;
  }
  return *p ? p : NULL;
}

/* 0, or why not all was written (a full disk or a closed stderr: the rest is dropped). */
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : ENOSPC;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int64_t now_us(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* Reads a small file (a cgroup or /proc file) into buf, NUL-terminated; length or -1. */
static ssize_t read_file(int dirfd, const char *path, char *buf, size_t size) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < size) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  return (ssize_t)got;
}

static int write_file(int dirfd, const char *path, const char *text) {
  int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return n < 0 ? -1 : 0;
}

/* A decimal number at p; *end after it. -1 when there is none. */
static int64_t parse_dec(const char *p, const char **end) {
  int64_t v = 0;
  const char *q = p;
  while (*q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
  if (end) *end = q;
  return q == p ? -1 : v;
}

/* The number after "key " at a line start in text, or -1. */
static int64_t keyed(const char *text, const char *key) {
  size_t k = strlen(key);
  for (const char *p = text; p && *p;) {
    if (strncmp(p, key, k) == 0 && p[k] == ' ') return parse_dec(p + k + 1, NULL);
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

/* ---------------------------------------------------------------- the outcome */

static struct {
  int ended; /* 1 exited, 2 killed by a signal, 3 failed */
  int value;
  int step;
  int stats; /* NSBOX_STATS_* read */
  int64_t wall_us, cpu_user_us, cpu_system_us, memory_peak, pids_peak, oom_kills;
  int exit_code;
  char ended_at[32];
  char mac[65];
  int stop_signal;
  int timed_out;
} out = {0, 0, 0, NSBOX_STATS_NONE, -1, -1, -1, -1, -1, 0, 0, "", "", 0, 0};

static int64_t started_us;

/* NSBOX_SV_READ_EGRESS: the egress proxy's report (NUL-terminated), or unknown. */
static char egress_buf[NSBOX_SV_MAX_EGRESS + 1];
static int egress_known;

static void read_egress(int fd, int64_t cap) {
  if (cap <= 0 || cap > NSBOX_SV_MAX_EGRESS) cap = NSBOX_SV_MAX_EGRESS;
  size_t got = 0;
  for (;;) {
    ssize_t n = pread(fd, egress_buf + got, (size_t)cap + 1 - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (got > (size_t)cap) break;
  }
  close(fd);
  egress_known = got > 1 && got <= (size_t)cap && egress_buf[got - 1] == '\n';
  egress_buf[egress_known ? got - 1 : 0] = '\0';
}

static void read_cgroup_stats(void) {
  const char *dir = str(cfg->stats_path);
  if (!dir) return;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[4096];
  out.stats = NSBOX_STATS_CGROUP;
  if (dfd < 0) return;
  if (read_file(dfd, "memory.peak", buf, sizeof buf) > 0) out.memory_peak = parse_dec(buf, NULL);
  if (read_file(dfd, "pids.peak", buf, sizeof buf) > 0) out.pids_peak = parse_dec(buf, NULL);
  if (read_file(dfd, "cpu.stat", buf, sizeof buf) > 0) {
    out.cpu_user_us = keyed(buf, "user_usec");
    out.cpu_system_us = keyed(buf, "system_usec");
    if (out.cpu_user_us < 0 || out.cpu_system_us < 0) out.cpu_user_us = out.cpu_system_us = -1;
  }
  if (read_file(dfd, "memory.events", buf, sizeof buf) > 0) {
    int64_t k = keyed(buf, "oom_kill");
    out.oom_kills = k < 0 ? 0 : k;
  }
  close(dfd);
}

/* PID 1's resource usage (with its reaped descendants', the command's), from reaping it. */
static struct rusage ru;
static int have_ru;

/* The command's, as its init reported it (NSBOX_MSG_RUSAGE): -1 until then. */
static int64_t cmd_user_us = -1, cmd_system_us = -1, cmd_maxrss_kib = -1;

static void read_rusage(void) {
  if (cmd_user_us >= 0 && cmd_system_us >= 0) {
    out.stats = NSBOX_STATS_RUSAGE;
    out.cpu_user_us = cmd_user_us;
    out.cpu_system_us = cmd_system_us;
    out.memory_peak = cmd_maxrss_kib >= 0 ? cmd_maxrss_kib * 1024 : -1;
    return;
  }
  /* The command was PID 1 itself (or never reported): PID 1's own times;
   * not its peak, which counts nsbox's (it was started vfork-style). */
  if (!have_ru) return;
  out.stats = NSBOX_STATS_RUSAGE;
  out.cpu_user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  out.cpu_system_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  out.memory_peak = -1;
}

static void set_status(int status) {
  if (WIFSIGNALED(status)) out.ended = 2, out.value = WTERMSIG(status);
  else out.ended = 1, out.value = WEXITSTATUS(status);
}

/* ---------------------------------------------------------------- templates */

struct sink {
  int fd;
  char *buf; /* when not NULL: into buf (size cap), else to fd */
  size_t len, cap;
  char chunk[1024];
  size_t used;
};

static void sink_flush(struct sink *s) {
  if (!s->buf && s->used) write_all(s->fd, s->chunk, s->used);
  s->used = 0;
}

static void put(struct sink *s, const char *p, size_t n) {
  if (s->buf) {
    for (size_t i = 0; i < n && s->len + 1 < s->cap; i++) s->buf[s->len++] = p[i];
    s->buf[s->len] = '\0';
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (s->used == sizeof s->chunk) sink_flush(s);
    s->chunk[s->used++] = p[i];
  }
}

static void puts_(struct sink *s, const char *p) { put(s, p, strlen(p)); }

static void put_int(struct sink *s, int64_t v) {
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u > 0);
  if (neg) put(s, "-", 1);
  while (n > 0) put(s, &tmp[--n], 1);
}

/* v/1000 as JavaScript prints it: no trailing zeros, no point for a whole number. */
static void put_milli(struct sink *s, int64_t v) {
  if (v < 0) put(s, "-", 1), v = -v;
  put_int(s, v / 1000);
  int frac = (int)(v % 1000);
  if (!frac) return;
  char d[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10), 0};
  int n = 3;
  while (d[n - 1] == '0') n--;
  put(s, ".", 1);
  put(s, d, (size_t)n);
}

/* Microseconds as seconds, "1.234 s" (under 10 s) or "12.3 s". */
static void put_seconds(struct sink *s, int64_t us) {
  if (us < 10000000) {
    int64_t ms = (us + 500) / 1000;
    put_int(s, ms / 1000);
    char d[5] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10), 0};
    puts_(s, d);
  } else {
    int64_t ds = (us + 50000) / 100000;
    put_int(s, ds / 10);
    char d[3] = {'.', (char)('0' + ds % 10), 0};
    puts_(s, d);
  }
  puts_(s, " s");
}

/* Bytes with the largest binary unit that keeps one decimal (src/spec/units.ts formatSize). */
static void put_size(struct sink *s, int64_t bytes) {
  static const char units[] = "kMGT";
  for (int i = 3; i >= 0; i--) {
    int64_t size = (int64_t)1 << (10 * (i + 1));
    if (bytes < size) continue;
    int64_t tenths = (bytes * 10 + size / 2) / size;
    if (tenths >= 10240 && i < 3) i++, size <<= 10, tenths = (bytes * 10 + size / 2) / size;
    put_int(s, tenths / 10);
    if (tenths % 10) {
      char d[2] = {'.', (char)('0' + tenths % 10)};
      put(s, d, 2);
    }
    put(s, &units[i], 1);
    return;
  }
  put_int(s, bytes);
}

static const char *signal_name(int sig) {
  const char *p = str(cfg->signal_names);
  if (!p || sig < 1 || sig > 64) return NULL;
  const char *end = cfgbuf + cfg->size;
  for (int i = 0; i < sig && p < end; i++) p += strlen(p) + 1;
  return p < end && *p ? p : NULL;
}

enum vkind { V_NONE, V_INT, V_MS, V_STR, V_BOOL };
struct value {
  enum vkind kind;
  int64_t n; /* V_INT, V_BOOL; V_MS: microseconds */
  const char *s;
};

static struct value lookup(const char *name, size_t len) {
  struct value v = {V_NONE, 0, NULL};
#define IS(k) (len == sizeof(k) - 1 && memcmp(name, k, len) == 0)
  int stats = out.stats != NSBOX_STATS_NONE;
  if (IS("exit")) v.kind = V_INT, v.n = out.exit_code;
  else if (IS("code")) {
    if (out.ended == 1) v.kind = V_INT, v.n = out.value;
  } else if (IS("signal")) {
    if (out.ended == 2) v.kind = V_STR, v.s = signal_name(out.value);
    if (out.ended == 2 && !v.s) v.kind = V_INT, v.n = out.value;
  } else if (IS("signum")) {
    v.kind = V_STR, v.s = signal_name(out.stop_signal);
    if (!v.s) v.kind = V_INT, v.n = out.stop_signal;
  } else if (IS("oom")) v.kind = V_BOOL, v.n = out.ended == 2 && out.value == SIGKILL && out.oom_kills > 0;
  else if (IS("wall_ms")) v.kind = V_MS, v.n = out.wall_us;
  else if (IS("stats")) v.kind = V_BOOL, v.n = stats;
  else if (IS("cpu")) v.kind = V_BOOL, v.n = stats && out.cpu_user_us >= 0 && out.cpu_system_us >= 0;
  else if (IS("cpu_user_ms")) {
    if (stats && out.cpu_user_us >= 0) v.kind = V_MS, v.n = out.cpu_user_us;
  } else if (IS("cpu_system_ms")) {
    if (stats && out.cpu_system_us >= 0) v.kind = V_MS, v.n = out.cpu_system_us;
  } else if (IS("memory_peak")) {
    if (stats && out.memory_peak >= 0) v.kind = V_INT, v.n = out.memory_peak;
  } else if (IS("pids_peak")) {
    if (stats && out.pids_peak >= 0) v.kind = V_INT, v.n = out.pids_peak;
  } else if (IS("oom_kills")) {
    if (stats) v.kind = V_INT, v.n = out.oom_kills;
  } else if (IS("ended")) v.kind = V_STR, v.s = out.ended_at;
  else if (IS("mac")) v.kind = V_STR, v.s = out.mac;
  else if (IS("timed_out")) v.kind = V_BOOL, v.n = out.timed_out;
  else if (IS("step")) {
    if (out.ended == 3) v.kind = V_INT, v.n = out.step;
  } else if (IS("step_what")) {
    if (out.ended == 3 && out.step >= 0) v.kind = V_STR, v.s = nth(cfg->step_whats, cfg->step_what_count, (uint32_t)out.step);
  } else if (IS("errno")) {
    if (out.ended == 3) v.kind = V_INT, v.n = out.value;
  } else if (IS("errno_name") || IS("errno_text")) {
    uint32_t e = out.ended == 3 && out.value >= 0 ? (uint32_t)out.value : UINT32_MAX;
    if (e < cfg->errno_count) v.kind = V_STR, v.s = nth(cfg->errnos, 2 * cfg->errno_count, 2 * e + IS("errno_text"));
  } else if (IS("egress")) {
    if (egress_known) v.kind = V_STR, v.s = egress_buf;
  }
#undef IS
  return v;
}

/* For {?name}: a boolean that is true, or any other value that is known. */
static int truthy(struct value v) {
  if (v.kind == V_BOOL) return v.n != 0;
  return v.kind != V_NONE && (v.kind != V_STR || v.s);
}

/* p as the contents of a JSON string, escaped as JSON.stringify() escapes it (the same bytes as TypeScript's). */
static void put_json(struct sink *s, const char *p) {
  static const char hex[] = "0123456789abcdef";
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    const char *brief = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\t' ? "\\t"
                        : c == '\n' ? "\\n" : c == '\f' ? "\\f" : c == '\r' ? "\\r" : NULL;
    if (brief) {
      put(s, brief, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(s, e, 6);
    } else {
      put(s, (const char *)&c, 1);
    }
  }
}

static void put_value(struct sink *s, struct value v, const char *fmt, size_t flen) {
#define FMT(k) (flen == sizeof(k) - 1 && memcmp(fmt, k, flen) == 0)
  if (v.kind == V_NONE || (v.kind == V_STR && !v.s)) {
    puts_(s, FMT("bool") ? "false" : "null");
    return;
  }
  if (FMT("bool")) puts_(s, truthy(v) ? "true" : "false");
  else if (FMT("size")) put_size(s, v.n);
  else if (FMT("s")) put_seconds(s, v.kind == V_MS ? v.n : v.n * 1000);
  else if ((FMT("q") || FMT("j")) && v.kind == V_STR) {
    if (FMT("q")) put(s, "\"", 1);
    put_json(s, v.s);
    if (FMT("q")) put(s, "\"", 1);
  } else if (v.kind == V_STR) puts_(s, v.s);
  else if (v.kind == V_MS) put_milli(s, v.n);
  else if (v.kind == V_BOOL) puts_(s, v.n ? "true" : "false");
  else put_int(s, v.n);
#undef FMT
}

/* Renders template t into s (see nsbox_helper.h). */
static void render(struct sink *s, const char *t) {
  int skip = 0; /* depth of conditionals being skipped */
  int depth = 0;
  while (t && *t) {
    if (t[0] == '{' && t[1] == '{') { /* a literal brace */
      if (!skip) put(s, "{", 1);
      t += 2;
      continue;
    }
    if (*t != '{') {
      const char *open = strchr(t, '{');
      size_t n = open ? (size_t)(open - t) : strlen(t);
      if (!skip) put(s, t, n);
      t += n;
      continue;
    }
    const char *close = strchr(t, '}');
    if (!close) {
      if (!skip) puts_(s, t);
      break;
    }
    const char *name = t + 1;
    size_t len = (size_t)(close - name);
    t = close + 1;
    if (len == 1 && name[0] == '/') {
      if (depth > 0) depth--;
      if (skip > depth) skip = 0;
      continue;
    }
    if (name[0] == '?' || name[0] == '!') {
      depth++;
      if (!skip) {
        int want = name[0] == '?';
        if (truthy(lookup(name + 1, len - 1)) != want) skip = depth;
      }
      continue;
    }
    if (skip) continue;
    const char *colon = memchr(name, ':', len);
    size_t nlen = colon ? (size_t)(colon - name) : len;
    put_value(s, lookup(name, nlen), colon ? colon + 1 : "", colon ? len - nlen - 1 : 0);
  }
}

static void render_to_fd(int fd, const char *t) {
  struct sink s;
  memset(&s, 0, sizeof s);
  s.fd = fd;
  render(&s, t);
  sink_flush(&s);
}

static size_t render_to_buf(char *buf, size_t cap, const char *t) {
  struct sink s;
  memset(&s, 0, sizeof s);
  s.buf = buf;
  s.cap = cap;
  buf[0] = '\0';
  render(&s, t);
  return s.len;
}

/* ---------------------------------------------------------------- SHA-256, HMAC */

struct sha256 {
  uint32_t h[8];
  uint64_t len;
  uint8_t block[64];
  size_t used;
};

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *c, const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  }
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
    h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
  }
  c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_init(struct sha256 *c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, iv, sizeof iv);
  c->len = 0;
  c->used = 0;
}

static void sha256_update(struct sha256 *c, const void *data, size_t n) {
  const uint8_t *p = data;
  c->len += n;
  while (n > 0) {
    size_t take = 64 - c->used < n ? 64 - c->used : n;
    memcpy(c->block + c->used, p, take);
    c->used += take, p += take, n -= take;
    if (c->used == 64) sha256_block(c, c->block), c->used = 0;
  }
}

static void sha256_final(struct sha256 *c, uint8_t out32[32]) {
  uint64_t bits = c->len * 8;
  uint8_t pad = 0x80, zero = 0;
  sha256_update(c, &pad, 1);
  while (c->used != 56) sha256_update(c, &zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(c, len, 8);
  for (int i = 0; i < 8; i++) {
    out32[4 * i] = (uint8_t)(c->h[i] >> 24), out32[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
    out32[4 * i + 2] = (uint8_t)(c->h[i] >> 8), out32[4 * i + 3] = (uint8_t)c->h[i];
  }
}

/* HMAC-SHA256 with a 32-byte key over prefix + body, as hex into out.mac. */
static void hmac_hex(const uint8_t *key, const char *prefix, size_t plen, const char *body, size_t blen) {
  uint8_t ipad[64], opad[64], inner[32], mac[32];
  memset(ipad, 0x36, sizeof ipad);
  memset(opad, 0x5c, sizeof opad);
  for (int i = 0; i < 32; i++) ipad[i] ^= key[i], opad[i] ^= key[i];
  struct sha256 c;
  sha256_init(&c);
  sha256_update(&c, ipad, 64);
  sha256_update(&c, prefix, plen);
  sha256_update(&c, body, blen);
  sha256_final(&c, inner);
  sha256_init(&c);
  sha256_update(&c, opad, 64);
  sha256_update(&c, inner, 32);
  sha256_final(&c, mac);
  for (int i = 0; i < 32; i++) {
    out.mac[2 * i] = "0123456789abcdef"[mac[i] >> 4];
    out.mac[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
  }
  out.mac[64] = '\0';
}

/* The time now as JavaScript's toISOString(): 2026-11-29T05:04:25.123Z. */
static void iso_now(char buf[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t secs = ts.tv_sec, days = secs / 86400, rem = secs % 86400;
  /* days since 1970-01-01 to a civil date (proleptic Gregorian) */
  int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  int64_t f[7] = {y, m, d, rem / 3600, rem / 60 % 60, rem % 60, ts.tv_nsec / 1000000};
  static const int width[7] = {4, 2, 2, 2, 2, 2, 3};
  static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
  int n = 0;
  for (int i = 0; i < 7; i++) {
    for (int w = width[i] - 1; w >= 0; w--) {
      int64_t div = 1;
      for (int k = 0; k < w; k++) div *= 10;
      buf[n++] = (char)('0' + f[i] / div % 10);
    }
    buf[n++] = sep[i];
  }
  buf[n] = '\0';
}

/* ---------------------------------------------------------------- the log */

static int log_fd = -1;
static int log_rd = -1;
static char io[65536]; /* what the pipe gave */
static char rot[65536]; /* what a rotation copies */

/* Output that cannot be written to the log (a full disk, an I/O error, a log that cannot be rotated because its
 * directory was made read-only) is dropped, and the sandbox runs on. The first reason is noted in `<log>.status`,
 * next to the log in the record directory (which no sandbox sees): made with "0\n" when the supervisor starts,
 * overwritten in place (no new block needed) with the errno; `nsbox ps` shows it (src/state/lifecycle.ts). */
static int status_fd = -1, dropped;

static int open_log(void) {
  return open(str(cfg->log_path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void open_status(void) {
  char path[4096];
  const char *log = str(cfg->log_path);
  size_t l = strlen(log);
  if (l + 8 > sizeof path) return;
  memcpy(path, log, l);
  memcpy(path + l, ".status", 8);
  status_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (status_fd >= 0) write_all(status_fd, "0\n", 2);
}

static void note_dropped(int err) {
  if (dropped || err == 0) return;
  dropped = err;
  char b[16];
  int n = 0;
  char tmp[12];
  int k = 0;
  for (int v = err; v > 0 && k < 10; v /= 10) tmp[k++] = (char)('0' + v % 10);
  while (k > 0) b[n++] = tmp[--k];
  b[n++] = '\n';
  if (status_fd >= 0) (void)pwrite(status_fd, b, (size_t)n, 0);
}

/* Makes `next` the log (and fds 1 and 2, where nsbox's own messages go). */
static void switch_log(int next) {
  (void)dup2(next, 1);
  (void)dup2(next, 2);
  if (log_fd >= 0) close(log_fd);
  log_fd = next;
}

static int64_t fd_size(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Where the kept part of a log of `size` bytes starts: the newest half, from
 * the first line start in it (src/supervise/log_pump.ts keptFrom). */
static int64_t kept_from(int fd, int64_t size) {
  int64_t half = size - size / 2;
  for (int64_t off = half; off < size;) {
    ssize_t n = pread(fd, rot, sizeof rot, off);
    if (n <= 0) break;
    const char *nl = memchr(rot, '\n', (size_t)n);
    if (nl) {
      int64_t at = off + (nl - rot) + 1;
      return at < size ? at : half;
    }
    off += n;
  }
  return half;
}

/* Replaces the log by its newest half; the new file becomes fds 1 and 2. 0, or why it could not. */
static int rotate_log(void) {
  const char *path = str(cfg->log_path);
  char tmp[4096];
  size_t plen = strlen(path);
  if (plen + 5 > sizeof tmp) return ENAMETOOLONG;
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  int old = open(path, O_RDONLY | O_CLOEXEC);
  if (old < 0) return errno;
  int64_t size = fd_size(old), from = kept_from(old, size);
  int t = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (t < 0) {
    int e = errno;
    close(old);
    return e;
  }
  int err = 0;
  for (int64_t off = from; off < size && !err;) {
    ssize_t n = pread(old, rot, sizeof rot, off);
    if (n <= 0) break;
    err = write_all(t, rot, (size_t)n);
    off += n;
  }
  close(t);
  close(old);
  if (err || rename(tmp, path) < 0) {
    if (!err) err = errno;
    (void)unlink(tmp);
    return err;
  }
  int next = open_log();
  if (next < 0) return errno;
  switch_log(next);
  return 0;
}

/* A log removed (or never opened): a new one, so that output is not written into a file nobody can read. */
static int reopen_log(void) {
  struct stat st;
  if (log_fd >= 0 && fstat(log_fd, &st) == 0 && st.st_nlink > 0) return 0;
  int next = open_log();
  if (next < 0) return errno;
  switch_log(next);
  return 0;
}

static void log_copy(size_t n) {
  int64_t cap = cfg->log_cap;
  int err = reopen_log();
  for (int i = 0; i < 4 && !err; i++) {
    int64_t size = fd_size(log_fd); /* nsbox's own messages count too */
    if (size <= 0 || size + (int64_t)n <= cap) break;
    err = rotate_log(); /* not rotated: dropped, or the log would outgrow its cap */
  }
  if (!err) err = write_all(log_fd, io, n);
  note_dropped(err);
}

/* Copies what the pipe holds now; 0 at end of file. */
static int log_pump(void) {
  size_t chunk = sizeof io;
  if ((int64_t)chunk > cfg->log_cap / 2) chunk = (size_t)(cfg->log_cap / 2);
  ssize_t n = read(log_rd, io, chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    close(log_rd);
    log_rd = -1;
    return 0;
  }
  log_copy((size_t)n);
  return 1;
}

static void finish_log(int64_t grace_ms) {
  int64_t until = now_us(CLOCK_MONOTONIC) + grace_ms * 1000;
  while (log_rd >= 0) {
    int64_t left = (until - now_us(CLOCK_MONOTONIC)) / 1000;
    if (left <= 0) break;
    struct pollfd p = {log_rd, POLLIN, 0};
    int r = poll(&p, 1, left > 100 ? 100 : (int)left);
    if (r > 0) log_pump();
  }
  if (log_rd >= 0) close(log_rd), log_rd = -1;
}

static void trim_log(void) {
  if (log_fd < 0 || fd_size(log_fd) <= cfg->log_cap) return;
  (void)rotate_log();
}

/* ---------------------------------------------------------------- the terminal */

static int terminal_fd(void) {
  for (int fd = 0; fd <= 2; fd++) {
    pid_t pg;
    if (ioctl(fd, TIOCGPGRP, &pg) == 0) return fd;
  }
  return -1;
}

static pid_t foreground_group(void) {
  int fd = terminal_fd();
  pid_t pg;
  return fd >= 0 && ioctl(fd, TIOCGPGRP, &pg) == 0 ? pg : -1;
}

static int is_foreground(void) {
  pid_t fg = foreground_group();
  return fg >= 0 && fg == getpgrp();
}

/* ioctl with SIGTTOU blocked, so a background group may change the terminal. */
static int tty_ioctl(int fd, unsigned long req, void *arg) {
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, &old);
  int r = ioctl(fd, req, arg);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return r;
}

static int give_terminal(pid_t pgrp) {
  int fd = terminal_fd();
  return fd >= 0 && tty_ioctl(fd, TIOCSPGRP, &pgrp) == 0;
}

static int reclaim_terminal(void) { return give_terminal(getpgrp()); }

/* ---------------------------------------------------------------- supervision */

static int exit_seen, owns_terminal, command_stopped, hinted;
static pid_t command_group = -1;

/* The command's process group: its pid on the host (it leads a group or a
 * session of its own), found by its pid inside among PID 1's children. */
static pid_t find_command_group(void) {
  if (command_group > 0 || exit_seen) return command_group;
  if (cfg->flags & NSBOX_SV_COMMAND_IS_PID1) return command_group = cfg->pid;
  if (cfg->command_ns_pid <= 0) return -1;
  int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  char dents[8192], path[64], buf[4096];
  long n;
  while (command_group < 0 && (n = syscall(SYS_getdents64, dfd, dents, sizeof dents)) > 0) {
    for (long off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      off += d->d_reclen;
      const char *end;
      int64_t pid = parse_dec(d->d_name, &end);
      if (pid <= 0 || *end) continue;
      size_t l = strlen(d->d_name);
      if (l + 8 > sizeof path) continue;
      memcpy(path, d->d_name, l);
      memcpy(path + l, "/status", 8);
      if (read_file(dfd, path, buf, sizeof buf) <= 0) continue;
      const char *pp = strstr(buf, "\nPPid:\t"), *ns = strstr(buf, "\nNSpid:\t");
      if (!pp || !ns || parse_dec(pp + 7, NULL) != cfg->pid) continue;
      const char *last = ns + 8, *eol = strchr(last, '\n');
      for (const char *q = last; *q && q != eol; q++) {
        if (*q == '\t' || *q == ' ') last = q + 1;
      }
      if (parse_dec(last, NULL) == cfg->command_ns_pid) command_group = (pid_t)pid;
      if (command_group > 0) break;
    }
  }
  close(dfd);
  return command_group;
}

static int foreground_job(void) {
  pid_t fg = foreground_group();
  return fg >= 0 && (fg == getpgrp() || fg == find_command_group());
}

static void hand_over(pid_t pgrp) {
  if (give_terminal(pgrp)) owns_terminal = 1;
  if (command_stopped) command_stopped = 0, kill(-pgrp, SIGCONT);
}

/* The command stopped (Ctrl-Z) while nsbox is the terminal's foreground job:
 * take the terminal back and stop nsbox's own group, so the caller's shell
 * sees a stopped job; once continued, give the terminal back to the
 * command's group if nsbox was brought to the foreground (`fg`, not `bg`),
 * and continue the command. */
static int stop_like_a_job(pid_t pgrp) {
  reclaim_terminal();
  kill(0, SIGTSTP); /* returns once the shell sent SIGCONT */
  int handed = is_foreground() && give_terminal(pgrp);
  kill(-pgrp, SIGCONT);
  return handed;
}

static void on_stop(int sig) {
  pid_t pgrp = find_command_group();
  if (pgrp <= 0) return;
  command_stopped = 1;
  /* It wants the terminal, which nsbox's group holds (a `fg` not yet handed
   * over): hand it over rather than stop. */
  if ((sig == SIGTTIN || sig == SIGTTOU) && is_foreground()) {
    hand_over(pgrp);
    return;
  }
  if (foreground_job()) {
    command_stopped = 0;
    owns_terminal = stop_like_a_job(pgrp);
    return;
  }
  /* Not the terminal's foreground job: stopping nsbox's group would stop the
   * caller. Leave the command stopped and say how to go on. */
  if (hinted) return;
  hinted = 1;
  out.stop_signal = sig;
  const char *t = str(cfg->stop_hint);
  if (t) render_to_fd(2, t);
}

/* SIGCONT: the shell's `fg` or `bg`, or a `kill -CONT` after the hint. */
static void on_continue(void) {
  pid_t pgrp = find_command_group();
  if (pgrp <= 0 || exit_seen) return;
  if (cfg->terminal != NSBOX_TERMINAL_NONE && is_foreground() && give_terminal(pgrp)) owns_terminal = 1;
  command_stopped = 0;
  kill(-pgrp, SIGCONT);
}

static int hold_fd = -1;

static void on_exit_(void) {
  exit_seen = 1;
  if (cfg->stats == NSBOX_STATS_CGROUP) read_cgroup_stats();
  if (hold_fd >= 0) close(hold_fd), hold_fd = -1; /* lets PID 1 exit */
}

/* PID 1's status once it ended: reaped when it is our child; read from its
 * /proc entry (a zombie its parent, the library's process, has not reaped)
 * otherwise. 1 when it has ended. */
static int pid1_ended(int *status) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (syscall(SYS_waitid, P_PIDFD, cfg->pidfd, &si, WEXITED | WNOHANG, &ru) == 0) {
    if (si.si_pid == 0) return 0;
    have_ru = 1;
    *status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : si.si_status & 0x7f;
    return 1;
  }
  if (errno != ECHILD) return 0;
  char path[64] = "/proc/", buf[1024];
  char num[24];
  int n = 0;
  for (int64_t v = cfg->pid; v > 0; v /= 10) num[n++] = (char)('0' + v % 10);
  size_t l = 6;
  while (n > 0) path[l++] = num[--n];
  memcpy(path + l, "/stat", 6);
  *status = 0;
  if (read_file(AT_FDCWD, path, buf, sizeof buf) <= 0) return 1;
  const char *p = strrchr(buf, ')');
  /* fields after the command name: 3 (state) ... 52 (exit_code) */
  for (int field = 3; p && field <= 52; field++) p = strchr(p + 1, ' ');
  if (p) *status = (int)parse_dec(p + 1, NULL);
  return 1;
}

/* Network helpers that end while the command runs: said once each (NSBOX_SV_STOP_HELPER's template a). */
#define MAX_WATCHED 8
static struct {
  int fd;
  const char *ended;
} watched[MAX_WATCHED];
static int n_watched;

static void watch_helpers(void) {
  const struct nsbox_sv_op *ops = (const struct nsbox_sv_op *)(cfgbuf + cfg->ops);
  for (uint32_t i = 0; i < cfg->op_count && n_watched < MAX_WATCHED; i++) {
    const char *t = ops[i].kind == NSBOX_SV_STOP_HELPER ? str(ops[i].a) : NULL;
    if (t && *t && ops[i].fd >= 0) watched[n_watched].fd = ops[i].fd, watched[n_watched++].ended = t;
  }
}

/* The template NSBOX_SV_REPORT renders instead of its own: the command never ran (NULL: it did). */
static const char *failure_text;

/* A failure before the command ran, handed over at the release: the first matching rule's status and words. */
static void pick_failure(void) {
  const struct nsbox_sv_fail *rules = (const struct nsbox_sv_fail *)(cfgbuf + cfg->fails);
  for (uint32_t i = 0; i < cfg->fail_count; i++) {
    const struct nsbox_sv_fail *r = &rules[i];
    if ((r->step != NSBOX_SV_ANY_STEP && r->step != out.step) || (r->err != -1 && r->err != out.value)) continue;
    out.exit_code = r->exit_code;
    failure_text = str(r->text);
    return;
  }
}

static void supervise(void) {
  watch_helpers();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCONT);
  for (int sig = 1; sig <= 64; sig++) {
    if (cfg->forward_signals & (1ULL << (sig - 1))) sigaddset(&set, sig);
  }
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int msg_fd = cfg->msg_fd, msg_eof = 0, pid_done = 0, status = -1, msg_status = -1;
  owns_terminal = cfg->terminal == NSBOX_TERMINAL_FOREGROUND;
  /* --timeout: SIGTERM at the deadline (counted from the spawn), SIGKILL kill_after_us later. */
  int64_t deadline = cfg->timeout_us > 0 ? started_us + cfg->timeout_us - cfg->elapsed_us : INT64_MAX;
  while (!(msg_eof && pid_done)) {
    int64_t now = now_us(CLOCK_MONOTONIC);
    if (now >= deadline && !pid_done) {
      int sig = out.timed_out ? SIGKILL : SIGTERM;
      (void)syscall(SYS_pidfd_send_signal, cfg->pidfd, sig, NULL, 0);
      /* PID 1 passes SIGTERM on to the command; SIGKILL ends the whole sandbox */
      deadline = out.timed_out ? INT64_MAX : now + cfg->kill_after_us;
      out.timed_out = 1;
    }
    struct pollfd p[4 + MAX_WATCHED];
    int np = 0, i_sig = -1, i_msg = -1, i_pid = -1, i_log = -1, i_watch = -1;
    if (sfd >= 0) p[i_sig = np++] = (struct pollfd){sfd, POLLIN, 0};
    if (!msg_eof) p[i_msg = np++] = (struct pollfd){msg_fd, POLLIN, 0};
    if (!pid_done) p[i_pid = np++] = (struct pollfd){cfg->pidfd, POLLIN, 0};
    if (log_rd >= 0) p[i_log = np++] = (struct pollfd){log_rd, POLLIN, 0};
    i_watch = np;
    for (int w = 0; w < n_watched; w++) p[np++] = (struct pollfd){watched[w].ended ? watched[w].fd : -1, POLLIN, 0};
    int timeout = cfg->terminal != NSBOX_TERMINAL_NONE && !exit_seen ? 100 : -1;
    if (deadline != INT64_MAX) {
      int64_t left = (deadline - now + 999) / 1000;
      if (timeout < 0 || left < timeout) timeout = (int)(left < 0 ? 0 : left);
    }
    int r = poll(p, (nfds_t)np, timeout);
    if (r < 0) continue;
    if (r == 0 && now_us(CLOCK_MONOTONIC) >= deadline) continue; /* the timeout, at the loop's top */
    if (r == 0) {
      /* bash's `fg` of a running job gives nsbox's group the terminal
       * without a SIGCONT: notice it by looking, and hand over. */
      if (is_foreground()) {
        pid_t pgrp = find_command_group();
        if (pgrp > 0) hand_over(pgrp);
      }
      continue;
    }
    if (i_sig >= 0 && p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCONT) on_continue();
        else (void)syscall(SYS_pidfd_send_signal, cfg->pidfd, (int)si.ssi_signo, NULL, 0);
      }
    }
    if (i_msg >= 0 && p[i_msg].revents) {
      struct nsbox_msg m;
      ssize_t n = read(msg_fd, &m, sizeof m);
      if (n < 0 && errno == EINTR) continue;
      if (n != (ssize_t)sizeof m) {
        msg_eof = 1; /* end of file (or a torn record: PID 1 is gone) */
      } else if (m.kind == NSBOX_MSG_STOPPED) {
        on_stop(m.value);
      } else if (m.kind == NSBOX_MSG_RUSAGE) {
        int64_t us = (int64_t)m.err * 1000000 + m.value;
        if (m.step == 0) cmd_user_us = us;
        else if (m.step == 1) cmd_system_us = us;
        else if (m.step == 2) cmd_maxrss_kib = m.value;
      } else if (m.kind == NSBOX_MSG_EXIT) {
        msg_status = m.value;
        on_exit_();
      } else if (m.kind == NSBOX_MSG_ERROR && out.ended != 3) {
        out.ended = 3, out.value = m.err, out.step = m.step;
      }
    }
    if (i_pid >= 0 && p[i_pid].revents) pid_done = pid1_ended(&status);
    if (i_log >= 0 && p[i_log].revents) log_pump();
    for (int w = 0; w < n_watched; w++) {
      if (!p[i_watch + w].revents || !watched[w].ended) continue;
      if (!pid_done) render_to_fd(2, watched[w].ended); /* not when the sandbox ends with it */
      watched[w].ended = NULL; /* said once; still stopped and reaped by its op */
    }
  }
  if (!exit_seen) on_exit_();
  out.wall_us = cfg->elapsed_us + (now_us(CLOCK_MONOTONIC) - started_us);
  if (out.ended != 3) set_status(msg_status >= 0 ? msg_status : status);
  if (cfg->stats == NSBOX_STATS_RUSAGE) read_rusage();
  out.exit_code = out.ended == 1 ? out.value : out.ended == 2 ? 128 + out.value : NSBOX_EXIT_SETUP;
  if (out.timed_out) out.exit_code = 124; /* as timeout(1) */
  if (out.ended == 3) pick_failure();
  if (sfd >= 0) close(sfd);
  close(msg_fd);

  if (cfg->terminal != NSBOX_TERMINAL_NONE) {
    int saved = (cfg->flags & NSBOX_SV_SAVED_TERMINAL) != 0, fd = cfg->saved_fd;
    if (saved) {
      /* the line discipline first (another one fails TCGETS), and exclusive mode off unless it was on */
      int ld;
      if (tty_ioctl(fd, TIOCGETD, &ld) == 0 && ld != cfg->saved_ldisc) {
        ld = cfg->saved_ldisc;
        tty_ioctl(fd, TIOCSETD, &ld);
      }
      if (!cfg->saved_exclusive) tty_ioctl(fd, TIOCNXCL, NULL);
    }
    /* Take the terminal back when the sandbox has it (not after a `bg`), and its settings with it. */
    if (owns_terminal || foreground_job()) {
      reclaim_terminal();
      if (saved && is_foreground()) tty_ioctl(fd, TCSETS, (void *)cfg->saved_termios);
    }
  }
}

/* ---------------------------------------------------------------- teardown ops */

static int userns_of(const char *path, struct stat *st) { return stat(path, st); }

/* Whether process `pid`'s user namespace is `target` or nested in it. */
static int in_sandbox(const char *pid, const struct stat *target, const struct stat *own) {
  char path[64];
  size_t l = strlen(pid);
  if (l + 14 > sizeof path) return 0;
  memcpy(path, pid, l);
  memcpy(path + l, "/ns/user", 9);
  struct stat st;
  int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
  close(dfd);
  if (fd < 0) return 0;
  int found = 0;
  if (fstat(fd, &st) == 0 && !(st.st_dev == own->st_dev && st.st_ino == own->st_ino)) {
    for (int depth = 0; depth < 40 && fd >= 0; depth++) {
      if (fstat(fd, &st) < 0) break;
      if (st.st_dev == target->st_dev && st.st_ino == target->st_ino) {
        found = 1;
        break;
      }
      int parent = ioctl(fd, NS_GET_PARENT);
      close(fd);
      fd = parent; /* EPERM past our own namespace: not in the sandbox */
    }
  }
  if (fd >= 0) close(fd);
  return found;
}

/* Whether some thread of /proc/<pid> still runs (a zombie leader may have live threads). */
static int running(int procfd, const char *pid) {
  char path[64], dents[4096], buf[1024];
  size_t l = strlen(pid);
  if (l + 6 > sizeof path) return 0;
  memcpy(path, pid, l);
  memcpy(path + l, "/task", 6);
  int tfd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tfd < 0) return 0;
  int live = 0;
  long n;
  while (!live && (n = syscall(SYS_getdents64, tfd, dents, sizeof dents)) > 0) {
    for (long off = 0; off < n && !live;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      size_t tl = strlen(d->d_name);
      if (tl + 6 > sizeof path) continue;
      memcpy(path, d->d_name, tl);
      memcpy(path + tl, "/stat", 6);
      if (read_file(tfd, path, buf, sizeof buf) <= 0) continue;
      const char *p = strrchr(buf, ')');
      if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X') live = 1;
    }
  }
  close(tfd);
  return live;
}

/* Scans /proc and SIGKILLs the sandbox's processes until a scan finds none. */
static void kill_userns(int nsfd) {
  struct stat target, own;
  if (fstat(nsfd, &target) < 0 || userns_of("/proc/self/ns/user", &own) < 0) return;
  char self[24];
  int n0 = 0;
  char tmp[24];
  for (pid_t v = getpid(); v > 0; v /= 10) tmp[n0++] = (char)('0' + v % 10);
  for (int i = 0; i < n0; i++) self[i] = tmp[n0 - 1 - i];
  self[n0] = '\0';
  for (;;) {
    int found = 0;
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) return;
    char dents[8192];
    long n;
    while ((n = syscall(SYS_getdents64, procfd, dents, sizeof dents)) > 0) {
      for (long off = 0; off < n;) {
        struct dirent64 *d = (struct dirent64 *)(dents + off);
        off += d->d_reclen;
        const char *end;
        int64_t pid = parse_dec(d->d_name, &end);
        if (pid <= 0 || *end || strcmp(d->d_name, self) == 0) continue;
        if (!in_sandbox(d->d_name, &target, &own) || !running(procfd, d->d_name)) continue;
        int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pidfd < 0) continue;
        /* the pid may have been reused between the check and pidfd_open: check what the pidfd holds */
        if (in_sandbox(d->d_name, &target, &own)) {
          (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
          found++;
        }
        close(pidfd);
      }
    }
    close(procfd);
    if (!found) return;
    sleep_ms(1);
  }
}

static int populated(const char *dir) {
  char buf[512];
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  ssize_t n = read_file(dfd, "cgroup.events", buf, sizeof buf);
  close(dfd);
  return n > 0 && keyed(buf, "populated") == 1;
}

/* cgroup.kill on each, then wait until each is empty; 0 when one cannot be killed so. */
static int kill_cgroups(const char *a, const char *b) {
  const char *dirs[2] = {a, b};
  int live[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    if (!dirs[i]) continue;
    int dfd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
      if (errno == ENOENT) continue; /* no such cgroup (PID 1's, not made) */
      return 0;
    }
    int r = write_file(dfd, "cgroup.kill", "1");
    close(dfd);
    if (r < 0) return 0;
    live[i] = 1;
  }
  for (int i = 0; i < 2; i++) {
    while (live[i] && populated(dirs[i])) sleep_ms(2);
  }
  return 1;
}

static void stop_helper(int pidfd, int64_t grace_ms) {
  siginfo_t si;
  int ours = 1;
  memset(&si, 0, sizeof si);
  if (syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | WNOHANG, NULL) == 0 && si.si_pid != 0) goto done;
  if (errno == ECHILD) ours = 0;
  (void)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
  for (int64_t until = now_us(CLOCK_MONOTONIC) + grace_ms * 1000;;) {
    int64_t left = (until - now_us(CLOCK_MONOTONIC)) / 1000;
    struct pollfd p = {pidfd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
      if (now_us(CLOCK_MONOTONIC) < until) continue;
      (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
      struct pollfd q = {pidfd, POLLIN, 0};
      while (poll(&q, 1, -1) < 0 && errno == EINTR) {
      }
    }
    break;
  }
  if (ours) (void)syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED, NULL);
done:
  close(pidfd);
}

static void remove_cgroup(const char *dir, int64_t wait_ms) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  (void)write_file(dfd, "cgroup.kill", "1");
  close(dfd);
  /* Killed processes may take a while to exit on a slow machine; the directory is busy until the last one has. */
  int64_t until = now_us(CLOCK_MONOTONIC) + wait_ms * 1000;
  for (int wait = 2;; wait = wait * 2 > 50 ? 50 : wait * 2) {
    if (rmdir(dir) == 0 || errno != EBUSY) return;
    if (now_us(CLOCK_MONOTONIC) > until) return;
    sleep_ms(wait);
  }
}

static void remove_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0) return;
  char dents[4096];
  long n;
  while ((n = syscall(SYS_getdents64, dfd, dents, sizeof dents)) > 0) {
    for (long off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      off += d->d_reclen;
      if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
      (void)unlinkat(dfd, d->d_name, 0);
    }
  }
  close(dfd);
  (void)rmdir(dir);
}

static void exit_record(const char *file, const char *body_t, const char *file_t) {
  const char *key = str(cfg->key), *prefix = str(cfg->mac_prefix);
  if (cfg->record_fd < 0 || !file || !body_t || !file_t || !key || !prefix) return;
  static char body[1024], text[2048];
  iso_now(out.ended_at);
  size_t blen = render_to_buf(body, sizeof body, body_t);
  hmac_hex((const uint8_t *)key, prefix, cfg->mac_prefix_len, body, blen);
  size_t tlen = render_to_buf(text, sizeof text, file_t);
  char tmp[256];
  size_t fl = strlen(file);
  if (fl + 6 > sizeof tmp) return;
  tmp[0] = '.';
  memcpy(tmp + 1, file, fl);
  memcpy(tmp + 1 + fl, ".tmp", 5);
  int fd = openat(cfg->record_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int err = write_all(fd, text, tlen);
  close(fd);
  /* a record cut short by a full disk is never renamed into place: the state record stays, found stale later */
  if (err || renameat(cfg->record_fd, tmp, cfg->record_fd, file) < 0) (void)unlinkat(cfg->record_fd, tmp, 0);
}

static void run_ops(void) {
  const struct nsbox_sv_op *ops = (const struct nsbox_sv_op *)(cfgbuf + cfg->ops);
  for (uint32_t i = 0; i < cfg->op_count; i++) {
    const struct nsbox_sv_op *op = &ops[i];
    switch (op->kind) {
    case NSBOX_SV_SWEEP:
      if (!((str(op->a) || str(op->b)) && kill_cgroups(str(op->a), str(op->b)))) kill_userns(op->fd);
      close(op->fd);
      break;
    case NSBOX_SV_FINISH_LOG:
      finish_log(op->arg);
      break;
    case NSBOX_SV_REPORT:
      if (failure_text || str(op->a)) render_to_fd(op->fd, failure_text ? failure_text : str(op->a));
      break;
    case NSBOX_SV_EXIT_RECORD:
      exit_record(str(op->a), str(op->b), str(op->c));
      break;
    case NSBOX_SV_STOP_HELPER:
      stop_helper(op->fd, op->arg);
      break;
    case NSBOX_SV_REMOVE_CGROUP:
      if (str(op->a)) remove_cgroup(str(op->a), op->arg);
      break;
    case NSBOX_SV_WRITE_FILE:
      if (str(op->a) && str(op->b)) (void)write_file(AT_FDCWD, str(op->a), str(op->b));
      break;
    case NSBOX_SV_REMOVE_DIR:
      if (str(op->a)) remove_dir(str(op->a));
      break;
    case NSBOX_SV_REMOVE_FILE:
      if (str(op->a)) (void)unlinkat(str(op->a)[0] == '/' ? AT_FDCWD : cfg->record_fd, str(op->a), 0);
      break;
    case NSBOX_SV_TRIM_LOG:
      trim_log();
      break;
    case NSBOX_SV_READ_EGRESS:
      read_egress(op->fd, op->arg);
      break;
    case NSBOX_SV_RESULT: {
      struct nsbox_sv_result r = {out.ended,       out.value,       out.step,          out.stats,
                                  out.timed_out,   0,               out.wall_us,       out.cpu_user_us,
                                  out.cpu_system_us, out.memory_peak, out.pids_peak, out.oom_kills};
      write_all(op->fd, (const char *)&r, sizeof r);
      break;
    }
    default:
      break;
    }
  }
}

/* ---------------------------------------------------------------- fault injection */

/* The test build only (NSBOX_FAULTS): NSBOX_FAULT=STEP[:SIGNAL] makes the supervisor die at STEP of the
 * signal (default KILL). Its signals are blocked (read through a signalfd while the command runs), so the
 * signal is delivered with its default action, as the death being simulated. */
static void fault(const char *step) {
#ifdef NSBOX_FAULTS
  const char *f = getenv("NSBOX_FAULT");
  size_t n = strlen(step);
  if (!f || strncmp(f, step, n) != 0 || (f[n] != '\0' && f[n] != ':')) return;
  static const struct { const char *name; int sig; } sigs[] = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT}};
  int sig = SIGKILL;
  if (f[n] == ':') {
    const char *name = f + n + 1;
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
      if (strcmp(name, sigs[i].name) == 0) sig = sigs[i].sig;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  signal(sig, SIG_DFL);
  (void)kill(getpid(), sig);
  (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
  for (;;) pause();
#else
  (void)step;
#endif
}

/* ---------------------------------------------------------------- main */

static int load_config(const char *arg) {
  const char *end;
  int64_t fd = parse_dec(arg, &end);
  if (fd < 0 || *end) return -1;
  size_t got = 0;
  for (;;) {
    ssize_t n = pread((int)fd, cfgbuf + got, sizeof cfgbuf - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (got == sizeof cfgbuf) break;
  }
  close((int)fd);
  cfg = (const struct nsbox_sv_config *)cfgbuf;
  if (got < sizeof *cfg || cfg->abi_version != NSBOX_ABI_VERSION || cfg->size != got) return -1;
  if (cfg->ops % 8 || cfg->ops > got || (got - cfg->ops) / sizeof(struct nsbox_sv_op) < cfg->op_count) return -1;
  if (cfg->fails % 4 || cfg->fails > got || (got - cfg->fails) / sizeof(struct nsbox_sv_fail) < cfg->fail_count) {
    return -1;
  }
  cfgbuf[got - 1] = '\0'; /* every string ends inside */
  return 0;
}

int nsbox_supervise_main(int argc, char **argv) {
  started_us = now_us(CLOCK_MONOTONIC);
  (void)prctl(PR_SET_NAME, (unsigned long)"nsbox", 0UL, 0UL, 0UL);
  /* It holds the records' key for a detached sandbox's exit record. */
  (void)prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  signal(SIGPIPE, SIG_IGN);
  if (argc != 2 || load_config(argv[1]) < 0) {
    static const char msg[] = "nsbox: internal error: the supervisor got no usable configuration\n";
    write_all(2, msg, sizeof msg - 1);
    return NSBOX_EXIT_SETUP;
  }
  hold_fd = cfg->hold_fd;
  log_rd = cfg->log_rd;
  if (log_rd >= 0) {
    log_fd = open_log();
    open_status();
    (void)fcntl(log_rd, F_SETFL, O_NONBLOCK);
  }
  supervise();
  fault("after-exit");
  run_ops();
  return out.exit_code;
}
