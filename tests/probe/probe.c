/*
 * probe.c - prints, as one JSON object on stdout, what a process sees of its
 * sandbox. Built static (scripts/build_probe.sh) so that it also runs as the
 * only file of a --rootfs. No external libraries; every failure to read
 * something becomes a JSON null (or an empty list), never a crash.
 *
 * Keys: pid ppid uid gid euid egid groups cap_inh cap_prm cap_eff cap_bnd
 * cap_amb no_new_privs hostname cwd fds interfaces up_interfaces mounts
 * root_write argv env_count sig_ign sig_blk sig_cgt. See README.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------ JSON output */

static int first = 1; /* whether the next member/element is the first of its container */

static void sep(void) {
  if (!first) putchar(',');
  first = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned int min;
  unsigned int cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* A JSON string; invalid UTF-8 bytes become U+FFFD. */
static void json_str_n(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  putchar('"');
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
      i++;
    } else if (c == '\n') {
      fputs("\\n", stdout), i++;
    } else if (c == '\t') {
      fputs("\\t", stdout), i++;
    } else if (c == '\r') {
      fputs("\\r", stdout), i++;
    } else if (c < 0x20 || c == 0x7f) {
      printf("\\u%04x", c), i++;
    } else if (c < 0x80) {
      putchar(c), i++;
    } else {
      size_t len = utf8_len(s + i, n - i);
      if (len == 0) {
        fputs("\\ufffd", stdout);
        i++;
      } else {
        fwrite(s + i, 1, len, stdout);
        i += len;
      }
    }
  }
  putchar('"');
}

static void json_str(const char *s) {
  if (s) json_str_n(s, strlen(s));
  else fputs("null", stdout);
}

static void key(const char *k) {
  sep();
  json_str(k);
  putchar(':');
  first = 1; /* a value follows: no separator before it */
}

static void begin(char c) {
  putchar(c);
  first = 1;
}

static void end(char c) {
  putchar(c);
  first = 0;
}

static void kv_long(const char *k, long v) {
  key(k);
  printf("%ld", v);
  first = 0;
}

static void kv_str(const char *k, const char *v) {
  key(k);
  json_str(v);
  first = 0;
}

static void elem_long(long v) {
  sep();
  printf("%ld", v);
}

static void elem_str(const char *v) {
  sep();
  json_str(v);
}

/* ------------------------------------------------------------ helpers */

static const char *errno_name(int e) {
  static char buf[16];
  switch (e) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EIO: return "EIO";
  case EBADF: return "EBADF";
  case EACCES: return "EACCES";
  case EEXIST: return "EEXIST";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case EINVAL: return "EINVAL";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case ENOSYS: return "ENOSYS";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EDQUOT: return "EDQUOT";
  default:
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
  }
}

/* The value of "Name:\t..." in /proc/self/status, without the newline, or NULL. */
static const char *status_field(const char *name, char *out, size_t outsz) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) return NULL;
  char line[512];
  size_t nlen = strlen(name);
  const char *found = NULL;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
      char *v = line + nlen + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = '\0';
      snprintf(out, outsz, "%s", v);
      found = out;
      break;
    }
  }
  fclose(f);
  return found;
}

static void kv_status(const char *k, const char *field) {
  char buf[128];
  kv_str(k, status_field(field, buf, sizeof buf));
}

/* Decodes mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_octal(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* ------------------------------------------------------------ sections */

static void groups(void) {
  key("groups");
  begin('[');
  gid_t gs[NGROUPS_MAX];
  int n = getgroups(NGROUPS_MAX, gs);
  for (int i = 0; i < n; i++) elem_long((long)gs[i]);
  end(']');
}

static void hostname(void) {
  char buf[HOST_NAME_MAX + 2];
  memset(buf, 0, sizeof buf);
  kv_str("hostname", gethostname(buf, sizeof buf - 1) == 0 ? buf : NULL);
}

static void cwd(void) {
  char buf[PATH_MAX];
  kv_str("cwd", getcwd(buf, sizeof buf));
}

static void fds(void) {
  key("fds");
  begin('[');
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      long fd = strtol(e->d_name, NULL, 10);
      if (fd != own) elem_long(fd);
    }
    closedir(d);
  }
  end(']');
}

/* Copies src into dst[size], truncating; always terminated. */
static void copy_str(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Whether interface `name` has IFF_UP set (SIOCGIFFLAGS). */
static int interface_up(const char *name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_str(ifr.ifr_name, sizeof ifr.ifr_name, name);
  int up = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
  close(fd);
  return up;
}

/* "interfaces": the names in /proc/net/dev; "up_interfaces": those that are up. */
static void interfaces(void) {
  char names[64][IFNAMSIZ + 1];
  int n = 0;
  FILE *f = fopen("/proc/net/dev", "re");
  if (f) {
    char line[1024];
    while (n < 64 && fgets(line, sizeof line, f)) {
      char *colon = strchr(line, ':');
      if (!colon) continue; /* the two header lines have '|', not ':' */
      *colon = '\0';
      char *name = line;
      while (*name == ' ') name++;
      copy_str(names[n++], sizeof names[0], name);
    }
    fclose(f);
  }
  key("interfaces");
  begin('[');
  for (int i = 0; i < n; i++) elem_str(names[i]);
  end(']');
  key("up_interfaces");
  begin('[');
  for (int i = 0; i < n; i++) {
    if (interface_up(names[i])) elem_str(names[i]);
  }
  end(']');
}

static void mounts(void) {
  key("mounts");
  begin('[');
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f) {
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      line[strcspn(line, "\n")] = '\0';
      /* id parent major:minor root mount_point options [optional...] - fstype source super_options */
      char *fields[64];
      int n = 0;
      for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save)) {
        fields[n++] = t;
      }
      int dash = -1;
      for (int i = 6; i < n; i++) {
        if (strcmp(fields[i], "-") == 0) {
          dash = i;
          break;
        }
      }
      if (n < 6 || dash < 0 || dash + 1 >= n) continue;
      for (int i = 0; i < n; i++) unescape_octal(fields[i]);
      sep();
      begin('{');
      kv_str("mount_point", fields[4]);
      kv_str("root", fields[3]);
      kv_str("fs_type", dash + 1 < n ? fields[dash + 1] : NULL);
      kv_str("source", dash + 2 < n ? fields[dash + 2] : NULL);
      kv_str("options", fields[5]);
      kv_str("super_options", dash + 3 < n ? fields[dash + 3] : NULL);
      end('}');
    }
    free(line);
    fclose(f);
  }
  end(']');
}

/* "ok" when a file can be created at /.nsbox-probe (then removed), else the errno's name. */
static void root_write(void) {
  const char *path = "/.nsbox-probe";
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    unlink(path);
    kv_str("root_write", "ok");
  } else {
    kv_str("root_write", errno_name(errno));
  }
}

static void args(int argc, char **argv) {
  key("argv");
  begin('[');
  for (int i = 0; i < argc; i++) elem_str(argv[i]);
  end(']');
}

int main(int argc, char **argv) {
  long env_count = 0;
  for (char **e = environ; e && *e; e++) env_count++;

  begin('{');
  kv_long("pid", (long)getpid());
  kv_long("ppid", (long)getppid());
  kv_long("uid", (long)getuid());
  kv_long("gid", (long)getgid());
  kv_long("euid", (long)geteuid());
  kv_long("egid", (long)getegid());
  groups();
  kv_status("cap_inh", "CapInh");
  kv_status("cap_prm", "CapPrm");
  kv_status("cap_eff", "CapEff");
  kv_status("cap_bnd", "CapBnd");
  kv_status("cap_amb", "CapAmb");
  kv_long("no_new_privs", (long)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  hostname();
  cwd();
  fds();
  interfaces();
  mounts();
  root_write();
  args(argc, argv);
  kv_long("env_count", env_count);
  kv_status("sig_ign", "SigIgn");
  kv_status("sig_blk", "SigBlk");
  kv_status("sig_cgt", "SigCgt");
  end('}');
  putchar('\n');
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
