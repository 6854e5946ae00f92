/*
 * nsbox_helper.c - the fork-safe half of nsbox.
 *
 * Runs in a child of a multithreaded Deno process, between clone3 and execve,
 * where no JavaScript may run. It replays the plan TypeScript built (see
 * nsbox_helper.h) with raw system calls: no malloc, no stdio, no policy.
 */
#define _GNU_SOURCE
#include "nsbox_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <linux/sched.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <limits.h>
#include <poll.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#define FSMOUNT_CLOEXEC 0x00000001
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif

_Static_assert(sizeof(struct nsbox_op) == 72, "nsbox_op layout");
_Static_assert(sizeof(struct nsbox_plan) == 88, "nsbox_plan layout");
_Static_assert(sizeof(struct nsbox_spawn_result) == 16, "nsbox_spawn_result layout");
_Static_assert(sizeof(struct nsbox_msg) == 16, "nsbox_msg layout");
_Static_assert(sizeof(struct nsbox_sv_op) == 32, "nsbox_sv_op layout");
_Static_assert(sizeof(struct nsbox_sv_config) == 232, "nsbox_sv_config layout");
_Static_assert(sizeof(struct nsbox_sv_fail) == 16, "nsbox_sv_fail layout");
_Static_assert(sizeof(struct nsbox_sv_result) == 72, "nsbox_sv_result layout");

struct nsbox_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define PTR(x) ((const char *)(uintptr_t)(x))

uint32_t nsbox_abi_version(void) { return NSBOX_ABI_VERSION; }

/* 1 in the test build (scripts/test.sh builds with NSBOX_FAULTS=1): only then does nsbox honour NSBOX_FAULT,
 * which makes it kill itself at a named step of its start-up or teardown (src/spawn/fault.ts). */
int32_t nsbox_fault_injection(void) {
#ifdef NSBOX_FAULTS
  return 1;
#else
  return 0;
#endif
}

/* ---------------------------------------------------------------- reporting */

static void send_msg(int fd, int32_t kind, int32_t step, int32_t err, int32_t value) {
  struct nsbox_msg m = {kind, step, err, value};
  ssize_t r;
  do {
    r = write(fd, &m, sizeof m); /* <= PIPE_BUF: atomic */
  } while (r < 0 && errno == EINTR);
}

__attribute__((noreturn, unused)) static void fail(int msg_fd, int32_t step, int err, int code) {
  send_msg(msg_fd, NSBOX_MSG_ERROR, step, err, 0);
  _exit(code);
}

#ifdef NSBOX_STATIC_INIT
/* ---------------------------------------------------------------- ops */

static int ignore_exists(const struct nsbox_op *op, int r) {
  if (r < 0 && errno == EEXIST && (op->flags & NSBOX_OPF_IGNORE_EXISTS)) return 0;
  return r;
}

static int do_capset(const struct nsbox_op *op) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(op->n1 >> (32 * i));
    data[i].permitted = (uint32_t)(op->n2 >> (32 * i));
    data[i].inheritable = (uint32_t)(op->n3 >> (32 * i));
  }
  if (op->flags & NSBOX_OPF_CLEAR_AMBIENT) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  }
  return (int)syscall(SYS_capset, &hdr, data);
}

static int set_ids(const struct nsbox_op *op) {
  gid_t gid = (gid_t)op->n2;
  uid_t uid = (uid_t)op->n1;
  if ((op->flags & NSBOX_OPF_SETGROUPS) && setgroups(1, &gid) < 0) return -1;
  if (setresgid(gid, gid, gid) < 0) return -1;
  if (prctl(PR_SET_KEEPCAPS, 1UL, 0UL, 0UL, 0UL) < 0) return -1;
  if (setresuid(uid, uid, uid) < 0) return -1;
  (void)prctl(PR_SET_KEEPCAPS, 0UL, 0UL, 0UL, 0UL);
  /* leaving uid 0 cleared the effective set: what is permitted is effective again */
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return -1;
  for (int i = 0; i < 2; i++) data[i].effective = data[i].permitted;
  return (int)syscall(SYS_capset, &hdr, data);
}

static int do_write_file(const struct nsbox_op *op) {
  int fd = open(PTR(op->b), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)op->n2);
  if (fd < 0) return -1;
  const char *p = PTR(op->a);
  uint64_t left = op->n1;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    p += w;
    left -= (uint64_t)w;
  }
  return close(fd);
}

static int link_up(const char *name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP;
    r = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

static int listen_send(const struct nsbox_op *op) {
  const struct sockaddr *addr = (const struct sockaddr *)(uintptr_t)op->a;
  int s = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int one = 1;
  int r = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (r == 0) r = bind(s, addr, (socklen_t)op->n1);
  if (r == 0) r = listen(s, (int)op->n3);
  if (r == 0) {
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &s, sizeof(int));
    ssize_t n;
    do n = sendmsg((int)op->n2, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    r = n == 1 ? 0 : -1;
  }
  int e = errno;
  close(s);
  errno = e;
  return r;
}

/* Writes `text` to /proc/PID/NAME (PID 0: /proc/self/NAME). */
static int write_proc(pid_t pid, const char *name, const char *text) {
  char path[64] = "/proc/";
  size_t n = strlen(path);
  if (pid == 0) {
    memcpy(path + n, "self", 4);
    n += 4;
  } else {
    char digits[16];
    int d = 0;
    do {
      digits[d++] = (char)('0' + pid % 10);
      pid /= 10;
    } while (pid > 0);
    while (d > 0) path[n++] = digits[--d];
  }
  path[n++] = '/';
  size_t len = strlen(name);
  if (n + len + 1 > sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(path + n, name, len + 1);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t tlen = strlen(text);
  ssize_t w = write(fd, text, tlen);
  int e = errno;
  close(fd);
  if (w != (ssize_t)tlen) {
    errno = w < 0 ? e : EIO;
    return -1;
  }
  return 0;
}

static int nest_userns(const struct nsbox_op *op) {
  if (op->flags & NSBOX_OPF_SELF_MAP) {
    /* Maps of one id, our own: a process may write those for itself. */
    if (unshare(CLONE_NEWUSER | (int)op->n1) < 0) return -1;
    if (op->c && write_proc(0, "setgroups", PTR(op->c)) < 0) return -1;
    if (write_proc(0, "uid_map", PTR(op->a)) < 0) return -1;
    return write_proc(0, "gid_map", PTR(op->b));
  }
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0) return -1;
  pid_t self = getpid();
  pid_t h = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (h < 0) {
    int e = errno;
    close(go[0]);
    close(go[1]);
    errno = e;
    return -1;
  }
  if (h == 0) {
    /* the map writer: keeps this namespace's capabilities, which a process
     * that has moved into the nested namespace no longer has here */
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(ECHILD);
    if (op->c && write_proc(self, "setgroups", PTR(op->c)) < 0) _exit(errno & 0xff);
    if (write_proc(self, "uid_map", PTR(op->a)) < 0) _exit(errno & 0xff);
    if (write_proc(self, "gid_map", PTR(op->b)) < 0) _exit(errno & 0xff);
    _exit(0);
  }
  close(go[0]);
  int r = unshare(CLONE_NEWUSER | (int)op->n1);
  int e = errno;
  if (r == 0) (void)!write(go[1], "g", 1);
  close(go[1]);
  int status = 0;
  while (waitpid(h, &status, 0) < 0 && errno == EINTR) {
  }
  if (r < 0) {
    errno = e;
    return -1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- slots */

static int slots[NSBOX_SLOTS];

static void slots_init(void) {
  for (int i = 0; i < NSBOX_SLOTS; i++) slots[i] = -1;
}

/* The descriptor in slot `s`; -1 with ENOENT when it is empty, EBADF when
 * there is no such slot. */
static int slot_get(uint64_t s) {
  if (s >= NSBOX_SLOTS) {
    errno = EBADF;
    return -1;
  }
  if (slots[s] < 0) errno = ENOENT;
  return slots[s];
}

static void slot_close(uint64_t s) {
  if (s < NSBOX_SLOTS && slots[s] >= 0) {
    close(slots[s]);
    slots[s] = -1;
  }
}

/* Stores fd (>= 0) in slot `s`, closing what was there; fd < 0 is passed on. */
static int slot_put(uint64_t s, int fd) {
  if (s >= NSBOX_SLOTS) {
    if (fd >= 0) close(fd);
    errno = EBADF;
    return -1;
  }
  slot_close(s);
  slots[s] = fd;
  return fd < 0 ? -1 : 0;
}

/* The directory an op's path is resolved from: AT_FDCWD, or its slot. */
static int op_dir(const struct nsbox_op *op) {
  return op->dir < 0 ? AT_FDCWD : slot_get((uint64_t)op->dir);
}

static int open_in(int dir, const char *path, uint64_t flags, uint64_t mode, uint32_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
  how.resolve = resolve;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
  } while (fd < 0 && (errno == EAGAIN || errno == EINTR)); /* EAGAIN: a rename raced RESOLVE_IN_ROOT */
  return fd;
}

/* Opens the parent of `path` (from the op's dir, with its resolve flags) as
 * an O_PATH descriptor and points *base at the last component. `path` may
 * not end in '/'. Returns the descriptor (the op's own dir when `path` has
 * one component: then *owned is 0). */
static int open_parent(const struct nsbox_op *op, const char *path, const char **base, int *owned) {
  int dir = op_dir(op);
  if (dir == -1) return -1;
  const char *slash = strrchr(path, '/');
  *owned = 0;
  if (!slash) {
    *base = path;
    return dir;
  }
  char parent[PATH_MAX];
  size_t len = (size_t)(slash - path);
  if (len >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(parent, path, len);
  parent[len] = '\0';
  *base = slash + 1;
  int fd = open_in(dir, len ? parent : "/", O_PATH | O_DIRECTORY, 0, op->resolve);
  if (fd >= 0) *owned = 1;
  return fd;
}

enum create_kind { CREATE_DIR, CREATE_FILE, CREATE_SYMLINK };

/* mkdir, an empty file, or a symlink at `b`: from the op's dir when it has
 * one, else at b as is. The last component is never followed. */
static int create_at(const struct nsbox_op *op, enum create_kind kind) {
  const char *path = PTR(op->b), *base = path;
  int dir = AT_FDCWD, owned = 0;
  if (op->dir >= 0) {
    dir = open_parent(op, path, &base, &owned);
    if (dir == -1) return -1;
  }
  int r;
  if (kind == CREATE_DIR) {
    r = mkdirat(dir, base, (mode_t)op->n1);
  } else if (kind == CREATE_FILE) {
    r = openat(dir, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, (mode_t)op->n1);
    if (r >= 0) r = close(r);
  } else {
    r = symlinkat(PTR(op->a), dir, base);
  }
  int e = errno;
  if (owned) close(dir);
  errno = e;
  return ignore_exists(op, r);
}

static int open_tree_op(const struct nsbox_op *op) {
  int dir = op_dir(op);
  if (dir == -1) return slot_put(op->n3, -1);
  const char *path = PTR(op->b);
  int src = dir, owned = 0;
  if (path[0] != '\0') {
    src = open_in(dir, path, O_PATH, 0, op->resolve);
    if (src < 0) return slot_put(op->n3, -1);
    owned = 1;
  }
  int t = (int)syscall(SYS_open_tree, src, "", (unsigned)op->n1 | AT_EMPTY_PATH | O_CLOEXEC);
  int e = errno;
  if (owned) close(src);
  errno = e;
  return slot_put(op->n3, t);
}

static int fsmount_op(const struct nsbox_op *op) {
  int fs = (int)syscall(SYS_fsopen, PTR(op->a), FSOPEN_CLOEXEC);
  if (fs < 0) return slot_put(op->n3, -1);
  int r = 0;
  for (const char *opt = PTR(op->c); opt && *opt && r == 0; opt += strlen(opt) + 1) {
    const char *eq = strchr(opt, '=');
    if (!eq) {
      r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, opt, NULL, 0);
      continue;
    }
    char key[256];
    size_t klen = (size_t)(eq - opt);
    if (klen >= sizeof key) {
      errno = EINVAL;
      r = -1;
      break;
    }
    memcpy(key, opt, klen);
    key[klen] = '\0';
    r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, eq + 1, 0);
  }
  if (r == 0) r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
  int m = r == 0 ? (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, (unsigned)op->n1) : -1;
  int e = errno;
  close(fs);
  errno = e;
  return slot_put(op->n3, m);
}

static int move_mount_op(const struct nsbox_op *op) {
  int from = slot_get(op->n1);
  int r = -1, e = errno;
  if (from >= 0) {
    int dir = op_dir(op);
    int to = dir == -1 ? -1 : open_in(dir, PTR(op->b), O_PATH, 0, op->resolve);
    if (to >= 0) {
      r = (int)syscall(SYS_move_mount, from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
      e = errno;
      close(to);
    } else {
      e = errno;
    }
  }
  slot_close(op->n1);
  errno = e;
  return r;
}

static int run_op(const struct nsbox_op *op) {
  switch (op->kind) {
  case NSBOX_OP_MOUNT:
    return mount(PTR(op->a), PTR(op->b), PTR(op->c), (unsigned long)op->n1, PTR(op->d));
  case NSBOX_OP_MOUNT_SETATTR: {
    struct nsbox_mount_attr attr = {op->n1, op->n2, 0, 0};
    int dir = op_dir(op);
    if (dir == -1) return -1;
    const char *path = PTR(op->b);
    unsigned at = (unsigned)op->n3 | (path[0] == '\0' ? AT_EMPTY_PATH : 0);
    return (int)syscall(SYS_mount_setattr, dir, path, at, &attr, sizeof attr);
  }
  case NSBOX_OP_UMOUNT:
    return umount2(PTR(op->b), (int)op->n1);
  case NSBOX_OP_MKDIR:
    return create_at(op, CREATE_DIR);
  case NSBOX_OP_MKFILE:
    return create_at(op, CREATE_FILE);
  case NSBOX_OP_SYMLINK:
    return create_at(op, CREATE_SYMLINK);
  case NSBOX_OP_PIVOT_ROOT:
    return (int)syscall(SYS_pivot_root, PTR(op->a), PTR(op->b));
  case NSBOX_OP_CHDIR:
    if (chdir(PTR(op->b)) == 0) return 0;
    return op->a ? chdir(PTR(op->a)) : -1;
  case NSBOX_OP_SETHOSTNAME:
    return sethostname(PTR(op->a), strlen(PTR(op->a)));
  case NSBOX_OP_PRCTL:
    return prctl((int)op->n1, (unsigned long)op->n2, (unsigned long)op->n3, 0UL, 0UL);
  case NSBOX_OP_CAPBSET_DROP:
    for (int cap = 0; cap < 64; cap++) {
      if (!(op->n1 & (1ULL << cap))) continue;
      /* EINVAL: this kernel does not know the capability; nothing to drop */
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    return 0;
  case NSBOX_OP_CAPSET:
    return do_capset(op);
  case NSBOX_OP_CLOEXEC_FROM:
    return (int)syscall(SYS_close_range, (unsigned)op->n1, ~0U, CLOSE_RANGE_CLOEXEC);
  case NSBOX_OP_SECCOMP: {
    struct sock_fprog prog = {(unsigned short)op->n1, (struct sock_filter *)(uintptr_t)op->a};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)op->n2, &prog);
  }
  case NSBOX_OP_WRITE_FILE:
    return do_write_file(op);
  case NSBOX_OP_LINK_UP:
    return link_up(PTR(op->a));
  case NSBOX_OP_LISTEN_SEND:
    return listen_send(op);
  case NSBOX_OP_UNSHARE:
    return unshare((int)op->n1);
  case NSBOX_OP_NEST_USERNS:
    return nest_userns(op);
  case NSBOX_OP_SETIDS:
    return set_ids(op);
  case NSBOX_OP_SETNS:
    return setns((int)op->n1, (int)op->n2);
  case NSBOX_OP_NS_PARENT: {
    int fd = ioctl((int)op->n1, NS_GET_PARENT);
    if (fd < 0) return -1;
    if (fd == (int)op->n3) return 0;
    int r = dup2(fd, (int)op->n3);
    close(fd);
    return r < 0 ? -1 : 0;
  }
  case NSBOX_OP_CLOSE:
    return close((int)op->n1);
  case NSBOX_OP_SETSID:
    return setsid() < 0 ? -1 : 0;
  case NSBOX_OP_OPEN_SLOT: {
    int dir = op_dir(op);
    if (dir == -1) return slot_put(op->n3, -1);
    return slot_put(op->n3, open_in(dir, PTR(op->b), op->n1, op->n2, op->resolve));
  }
  case NSBOX_OP_CLOSE_SLOT:
    slot_close(op->n1);
    return 0;
  case NSBOX_OP_OPEN_TREE:
    return open_tree_op(op);
  case NSBOX_OP_FSMOUNT:
    return fsmount_op(op);
  case NSBOX_OP_MOVE_MOUNT:
    return move_mount_op(op);
  case NSBOX_OP_DUP2:
    if (op->n1 == op->n2) return fcntl((int)op->n1, F_SETFD, 0);
    return dup2((int)op->n1, (int)op->n2) < 0 ? -1 : 0;
  case NSBOX_OP_OPEN: {
    int fd = open(PTR(op->b), (int)op->n1, (mode_t)op->n2);
    if (fd < 0) return -1;
    if (fd == (int)op->n3) return fcntl(fd, F_SETFD, 0);
    int r = dup2(fd, (int)op->n3);
    close(fd);
    return r < 0 ? -1 : 0;
  }
  default:
    errno = EINVAL;
    return -1;
  }
}

/* ---------------------------------------------------------------- exec */

/* The kernel's struct sigaction for rt_sigaction (x86_64, aarch64). */
struct nsbox_ksigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

static void reset_signals(void) {
  /* The raw system call: the C library refuses its own signals (32, 33),
   * which a parent may still have left ignored. */
  struct nsbox_ksigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.handler = SIG_DFL;
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
  }
  sigset_t none;
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* execvpe without malloc: errno is left as the most telling failure. */
static void exec_search(const char *file, char *const argv[], char *const envp[], const char *path) {
  if (strchr(file, '/') || !path) {
    execve(file, argv, envp);
    if (errno == EACCES) {
      /* say "is a directory" rather than "permission denied" when it is one */
      struct stat st;
      if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
      else errno = EACCES;
    }
    return;
  }
  size_t flen = strlen(file);
  char buf[PATH_MAX];
  int denied = 0;
  const char *seg = path;
  for (;;) {
    const char *end = strchr(seg, ':');
    size_t slen = end ? (size_t)(end - seg) : strlen(seg);
    const char *dir = slen ? seg : ".";
    size_t dlen = slen ? slen : 1;
    if (dlen + 1 + flen + 1 <= sizeof buf) {
      memcpy(buf, dir, dlen);
      buf[dlen] = '/';
      memcpy(buf + dlen + 1, file, flen + 1);
      execve(buf, argv, envp);
      switch (errno) {
      case EACCES: {
        /* a file that is there but not executable; not a directory on PATH
         * that we may not search (execvp would say EACCES for both) */
        struct stat st;
        if (stat(buf, &st) == 0) denied = 1;
        break;
      }
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
      case ENAMETOOLONG:
        break;
      default:
        return; /* a real error with a found file: report it */
      }
    }
    if (!end) break;
    seg = end + 1;
  }
  errno = denied ? EACCES : ENOENT;
}

/* Takes the command out of nsbox's process group, as TypeScript chose (see
 * NSBOX_PLAN_FOREGROUND, _OWN_GROUP, _OWN_SESSION): a session of its own, or a
 * process group of its own and, with NSBOX_PLAN_FOREGROUND, the terminal.
 * Signals are still blocked here, so tcsetpgrp from a background group is not
 * stopped by SIGTTOU. */
static int leave_callers_group(uint32_t flags) {
  if (flags & NSBOX_PLAN_OWN_SESSION) return setsid() < 0 ? -1 : 0;
  if (!(flags & (NSBOX_PLAN_OWN_GROUP | NSBOX_PLAN_FOREGROUND))) return 0;
  if (setpgid(0, 0) < 0) return -1;
  if (flags & NSBOX_PLAN_FOREGROUND) {
    /* the first of fds 0-2 that is our controlling terminal; others fail */
    for (int fd = 0; fd <= 2; fd++) {
      if (tcsetpgrp(fd, getpid()) == 0) break;
    }
  }
  return 0;
}

/* Execs the command; on failure reports it on msg_fd (and, when it is not
 * -1, on exec_fd, a close-on-exec pipe to PID 1) and exits. */
__attribute__((noreturn)) static void exec_command(const struct nsbox_plan *p, int msg_fd, int exec_fd) {
  if (leave_callers_group(p->flags) < 0) {
    /* never run the command in the caller's session when it was to leave it */
    int e = errno;
    if (exec_fd >= 0) (void)!write(exec_fd, &e, sizeof e);
    fail(msg_fd, NSBOX_STEP_INIT, e, NSBOX_EXIT_SETUP);
  }
  reset_signals();
  exec_search(PTR(p->file), (char *const *)(uintptr_t)p->argv, (char *const *)(uintptr_t)p->envp,
              PTR(p->search_path));
  int e = errno;
  if (exec_fd >= 0) (void)!write(exec_fd, &e, sizeof e);
  fail(msg_fd, NSBOX_STEP_EXEC, e, e == ENOENT ? NSBOX_EXIT_NOT_FOUND : NSBOX_EXIT_CANNOT_EXEC);
}

/* ---------------------------------------------------------------- init */

static int status_to_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* Shows `name` as this process's command line (ps -ef inside the sandbox),
 * instead of the Deno command line the child inherited: overwrite the
 * argument area in place, located from /proc/self/stat (fields 48, 49). */
static void set_cmdline(const char *name) {
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return;
  int field = 2; /* p is at the end of field 2, (comm) */
  unsigned long long v[2] = {0, 0};
  for (; *p && field < 49; p++) {
    if (*p != ' ') continue;
    field++;
    if (field >= 48) {
      unsigned long long x = 0;
      for (const char *q = p + 1; *q >= '0' && *q <= '9'; q++) x = x * 10 + (unsigned)(*q - '0');
      v[field - 48] = x;
    }
  }
  size_t want = strlen(name) + 1;
  if (field != 49 || v[1] <= v[0] || v[1] - v[0] < want) return;
  char *start = (char *)(uintptr_t)v[0];
  memset(start, 0, v[1] - v[0]);
  memcpy(start, name, want);
}

/* What the command's child needs, for clone(). */
struct command_start {
  const struct nsbox_plan *plan;
  int msg_fd, exec_rd, exec_wr;
};

/* The stack the command's child runs on until it execs (one at a time: the
 * parent waits, CLONE_VFORK). */
static char command_stack[64 * 1024] __attribute__((aligned(16)));

static int start_command(void *arg) {
  struct command_start *s = arg;
  close(s->exec_rd);
  exec_command(s->plan, s->msg_fd, s->exec_wr);
}

/* Kills and reaps every child left; their children come to us as their
 * subreaper, so repeat until there are none: no round limit, a command that
 * keeps forking must not outlast a fixed count. */
static void kill_orphans(void) {
  char path[64] = "/proc/self/task/";
  size_t n = strlen(path);
  pid_t self = getpid();
  char digits[16];
  int d = 0;
  do {
    digits[d++] = (char)('0' + self % 10);
    self /= 10;
  } while (self > 0);
  while (d > 0) path[n++] = digits[--d];
  memcpy(path + n, "/children", sizeof "/children");
  for (;;) {
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    if (len > 0) {
      buf[len] = '\0';
      pid_t pid = 0;
      for (char *q = buf;; q++) {
        if (*q >= '0' && *q <= '9') {
          pid = pid * 10 + (*q - '0');
          continue;
        }
        if (pid > 0) (void)kill(pid, SIGKILL);
        pid = 0;
        if (*q == '\0') break;
      }
    }
    int status;
    pid_t w = waitpid(-1, &status, 0);
    if (w < 0 && errno == ECHILD) return;
  }
}

/* PID 1 of the sandbox: forks the command, forwards the signals TypeScript
 * chose, reaps every orphan, and exits with the command's status. Signals
 * stay blocked here (inherited from nsbox_spawn) and are taken with
 * sigwaitinfo: a blocked signal is queued even for a namespace's init. */
__attribute__((noreturn)) static void run_init(const struct nsbox_plan *p, int msg_fd, int hold_fd) {
  /* Not dumpable before the command exists: it must never be able to ptrace
   * PID 1, read its memory (a copy of nsbox's) or open the nsbox binary
   * through /proc/1/exe. The command gets a dumpable mm again at execve. */
  (void)prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  /* A close-on-exec pipe tells PID 1 whether the command was executed:
   * end of file means it was; an errno means it was not. */
  int execp[2];
  if (pipe2(execp, O_CLOEXEC) < 0) fail(msg_fd, NSBOX_STEP_INIT, errno, NSBOX_EXIT_SETUP);
  /* Named before the command exists, so it never sees PID 1 as "deno". */
  (void)prctl(PR_SET_NAME, (unsigned long)"nsbox-init", 0UL, 0UL, 0UL);
  /* vfork-style: the child borrows our memory on a stack of its own until it
   * execs, so the address space copied from Deno is not copied again. */
  struct command_start start = {p, msg_fd, execp[0], execp[1]};
  pid_t cmd = clone(start_command, command_stack + sizeof command_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (cmd < 0) fail(msg_fd, NSBOX_STEP_INIT, errno, NSBOX_EXIT_SETUP);
  close(execp[1]);
  int exec_err = 0;
  ssize_t got;
  do {
    got = read(execp[0], &exec_err, sizeof exec_err);
  } while (got < 0 && errno == EINTR);
  close(execp[0]);
  /* Its argument area says "nsbox-init --setup ..."; the command sees "nsbox-init". */
  set_cmdline("nsbox-init");

  /* Keep only stdio and the pipes to the parent: init never execs, so
   * close-on-exec alone would leave it holding every descriptor the parent
   * had open. */
  int keep_lo = msg_fd, keep_hi = msg_fd;
  if (hold_fd >= 0) {
    keep_lo = hold_fd < msg_fd ? hold_fd : msg_fd;
    keep_hi = hold_fd < msg_fd ? msg_fd : hold_fd;
  }
  if (keep_lo > 3) (void)syscall(SYS_close_range, 3U, (unsigned)keep_lo - 1, 0U);
  if (keep_hi > keep_lo + 1) (void)syscall(SYS_close_range, (unsigned)keep_lo + 1, (unsigned)keep_hi - 1, 0U);
  (void)syscall(SYS_close_range, (unsigned)keep_hi + 1, ~0U, 0U);
  if (got == 0) send_msg(msg_fd, NSBOX_MSG_STARTED, 0, 0, cmd);

  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  for (int sig = 1; sig <= 64; sig++) {
    if (p->forward_signals & (1ULL << (sig - 1))) sigaddset(&wanted, sig);
  }
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&wanted, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      /* SI_KERNEL: sent by the kernel to our whole process group (the
       * terminal's Ctrl-C when nsbox's group is its foreground group, the
       * SIGHUP of a group orphaned with a stopped member). That group is
       * nsbox's own: the clone child never leaves it. nsbox got the same
       * signal and forwards it (to us, as SI_USER): forwarding this copy too
       * would deliver it twice. The command is never in our group. */
      if (si.si_code != SI_KERNEL) (void)kill(cmd, sig);
      continue;
    }
    for (;;) {
      int status;
      struct rusage ru;
      pid_t w = wait4(-1, &status, WNOHANG | WUNTRACED, &ru);
      if (w <= 0) break;
      if (w == cmd && WIFSTOPPED(status)) {
        send_msg(msg_fd, NSBOX_MSG_STOPPED, 0, 0, WSTOPSIG(status));
        continue;
      }
      if (w == cmd) {
        send_msg(msg_fd, NSBOX_MSG_RUSAGE, 0, (int32_t)ru.ru_utime.tv_sec, (int32_t)ru.ru_utime.tv_usec);
        send_msg(msg_fd, NSBOX_MSG_RUSAGE, 1, (int32_t)ru.ru_stime.tv_sec, (int32_t)ru.ru_stime.tv_usec);
        send_msg(msg_fd, NSBOX_MSG_RUSAGE, 2, 0, (int32_t)ru.ru_maxrss);
        if (p->flags & NSBOX_PLAN_KILL_ORPHANS) kill_orphans();
        send_msg(msg_fd, NSBOX_MSG_EXIT, 0, 0, status);
        if (hold_fd >= 0) {
          char c;
          for (;;) {
            ssize_t n = read(hold_fd, &c, 1);
            if (n > 0 || (n < 0 && errno == EINTR)) continue;
            break;
          }
        }
        _exit(status_to_code(status));
      }
    }
  }
}

/* ---------------------------------------------------------------- child */

__attribute__((noreturn)) static void child_main(const struct nsbox_plan *p, int sync_rd, int msg_fd) {
  /* The parent-death signal was set in the clone child; exec kept it. Armed
   * again all the same (exec clears it when credentials change), then: is the
   * parent gone already? Its end of msg_fd is then closed: POLLERR. */
  if (p->pdeathsig > 0) {
    (void)prctl(PR_SET_PDEATHSIG, (unsigned long)p->pdeathsig, 0UL, 0UL, 0UL);
    struct pollfd pfd = {msg_fd, 0, 0};
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR)) _exit(NSBOX_EXIT_SETUP);
  }
  char go;
  ssize_t r;
  do {
    r = read(sync_rd, &go, 1);
  } while (r < 0 && errno == EINTR);
  if (r != 1) _exit(NSBOX_EXIT_SETUP); /* aborted, or the parent is gone: no one to tell */
  int hold = p->init_mode == NSBOX_INIT_REAPER && (p->flags & NSBOX_PLAN_HOLD_EXIT);
  if (!hold) close(sync_rd);

  const struct nsbox_op *ops = (const struct nsbox_op *)(uintptr_t)p->ops;
  slots_init();
  for (uint32_t i = 0; i < p->op_count; i++) {
    if (run_op(&ops[i]) == 0) continue;
    if (errno == ENOENT && (ops[i].flags & NSBOX_OPF_IGNORE_MISSING)) continue;
    fail(msg_fd, (int32_t)i, errno, NSBOX_EXIT_SETUP);
  }
  if (p->init_mode == NSBOX_INIT_REAPER) run_init(p, msg_fd, hold ? sync_rd : -1);
  exec_command(p, msg_fd, -1);
}
#endif

/* ---------------------------------------------------------------- handover */

#ifndef NSBOX_STATIC_INIT
/* From the release of the child until the exec of the supervisor, the
 * signals nsbox forwards are forwarded by this handler, on whichever thread
 * gets them: JavaScript listeners would run only on an event-loop turn, and
 * nsbox execs away without one. */
static volatile int handover_pidfd = -1;
static volatile uint64_t handover_forward;

static void forward_now(int sig) {
  int saved = errno;
  if (sig >= 1 && sig <= 64 && (handover_forward & (1ULL << (sig - 1))) && handover_pidfd >= 0) {
    (void)syscall(SYS_pidfd_send_signal, handover_pidfd, sig, NULL, 0);
  }
  errno = saved;
}

int nsbox_forward_signals(int32_t pidfd, uint64_t forward) {
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = forward_now;
  act.sa_flags = SA_RESTART;
  sigfillset(&act.sa_mask);
  handover_forward = 0;
  handover_pidfd = pidfd;
  for (int sig = 1; sig <= 64; sig++) {
    if ((forward & (1ULL << (sig - 1))) && sigaction(sig, &act, NULL) < 0) return -errno;
  }
  handover_forward = forward;
  return 0;
}

int nsbox_exec_supervisor(int exe_fd, char *const *argv, const int32_t *keep, int32_t nkeep, uint64_t block) {
  extern char **environ;
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig = 1; sig <= 64; sig++) {
    if (block & (1ULL << (sig - 1))) sigaddset(&set, sig);
  }
  pthread_sigmask(SIG_BLOCK, &set, &old);
  int i, e = 0;
  for (i = 0; i < nkeep; i++) {
    if (fcntl(keep[i], F_SETFD, 0) < 0) {
      e = errno;
      break;
    }
  }
  if (i == nkeep) {
    (void)syscall(SYS_execveat, exe_fd, "", argv, environ, AT_EMPTY_PATH);
    e = errno;
  }
  /* Still here: put everything back. */
  while (i-- > 0) (void)fcntl(keep[i], F_SETFD, FD_CLOEXEC);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return -e;
}
#endif

/* ---------------------------------------------------------------- parent */

#ifndef NSBOX_STATIC_INIT
/* Writes v in `base` (10 or 16) into buf (at least 24 bytes). */
static char *fmt_num(char *buf, int64_t v, unsigned base) {
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = "0123456789abcdef"[u % base];
    u /= base;
  } while (u > 0);
  char *q = buf;
  if (neg) *q++ = '-';
  while (n > 0) *q++ = tmp[--n];
  *q = '\0';
  return buf;
}


/* What the clone child needs; it lives on the parent's stack, which the
 * child shares until it execs (the parent is suspended meanwhile). */
struct trampoline {
  const struct nsbox_plan *plan;
  int exe_fd, plan_fd, sync_rd, msg_wr;
  const int32_t *keep;
  int32_t nkeep;
};

/* The child's stack until it execs the static binary: the parent is
 * suspended (CLONE_VFORK) and spawns from one thread only. */
static char trampoline_stack[64 * 1024] __attribute__((aligned(16)));

/* The clone child, sharing the caller's memory (CLONE_VM): it touches only
 * its own stack and execs the static nsbox-init at once, which reads the
 * plan and does the rest (child_main). No copy of the caller's address
 * space is ever made, and the caller is not slowed by copy-on-write faults
 * while the child sets itself up. */
static int trampoline(void *arg) {
  const struct trampoline *t = arg;
  if (t->plan->pdeathsig > 0) (void)prctl(PR_SET_PDEATHSIG, (unsigned long)t->plan->pdeathsig, 0UL, 0UL, 0UL);
  if (t->plan->clone_flags & CLONE_NEWUSER) {
    /* The capabilities the clone gave us in the new user namespace would
     * not survive the exec (our uid there is not mapped yet, so not 0): make
     * them inheritable and ambient, which an exec keeps. The plan's own ops
     * set the command's (and clear the ambient set) before it runs. */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];
    if (syscall(SYS_capget, &hdr, caps) == 0) {
      caps[0].inheritable = caps[0].permitted;
      caps[1].inheritable = caps[1].permitted;
      if (syscall(SYS_capset, &hdr, caps) == 0) {
        for (unsigned long cap = 0; cap < 64; cap++) {
          if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0UL, 0UL) < 0 && errno == EINVAL) break;
        }
      }
    }
  }
  /* What the static binary and the plan's ops use survives the exec; the
   * rest of the caller's descriptors (close-on-exec) do not. */
  (void)fcntl(t->plan_fd, F_SETFD, 0);
  (void)fcntl(t->sync_rd, F_SETFD, 0);
  (void)fcntl(t->msg_wr, F_SETFD, 0);
  for (int32_t i = 0; i < t->nkeep; i++) (void)fcntl(t->keep[i], F_SETFD, 0);
  char plan[24], sync[24], msg[24];
  char *argv[] = {"nsbox-init", "--setup", fmt_num(plan, t->plan_fd, 10), fmt_num(sync, t->sync_rd, 10),
                  fmt_num(msg, t->msg_wr, 10), NULL};
  char *envp[] = {NULL};
  (void)syscall(SYS_execveat, t->exe_fd, "", argv, envp, AT_EMPTY_PATH);
  int e = errno;
  send_msg(t->msg_wr, NSBOX_MSG_ERROR, NSBOX_STEP_SYNC, e, 0);
  _exit(NSBOX_EXIT_SETUP);
}

int nsbox_spawn(const struct nsbox_plan *p, int32_t exe_fd, int32_t plan_fd, const int32_t *keep, int32_t nkeep,
                struct nsbox_spawn_result *out) {
  if (p->abi_version != NSBOX_ABI_VERSION) return -EPROTO;
  int syncp[2], msgp[2];
  if (pipe2(syncp, O_CLOEXEC) < 0) return -errno;
  if (pipe2(msgp, O_CLOEXEC) < 0) {
    int e = errno;
    close(syncp[0]);
    close(syncp[1]);
    return -e;
  }

  /* Block every signal across the clone so that no handler of the parent's
   * runtime ever runs in the child; the command gets a clear mask. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);

  struct trampoline t = {p, exe_fd, plan_fd, syncp[0], msgp[1], keep, nkeep};
  int pidfd = -1;
  /* CLONE_VFORK: back here once the child has exec'd (or exited). */
  int pid = clone(trampoline, trampoline_stack + sizeof trampoline_stack,
                  (int)p->clone_flags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &t, &pidfd);
  int e = errno;

  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(syncp[0]);
  close(msgp[1]);
  if (pid < 0) {
    close(syncp[1]);
    close(msgp[0]);
    return -e;
  }
  out->pid = (int32_t)pid;
  out->pidfd = pidfd;
  out->sync_fd = syncp[1];
  out->msg_fd = msgp[0];
  return 0;
}
#endif

/* ---------------------------------------------------------------- static init */

#ifdef NSBOX_STATIC_INIT
/* The static nsbox-init (ffi/build/nsbox-init), which nsbox_spawn's clone
 * child execs at once: `nsbox-init --setup PLAN_FD SYNC_FD MSG_FD`. The plan
 * is a memfd holding a position-independent struct nsbox_plan (pointer fields
 * hold offsets, listed in its relocation table): copied into anonymous
 * memory, relocated, then replayed by child_main. The same binary is the native supervisor
 * (nsbox_supervise.c). No malloc. */
static int parse_fd(const char *s, int *out) {
  int v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000000) return -1;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

int nsbox_supervise_main(int argc, char **argv); /* nsbox_supervise.c */

int main(int argc, char **argv) {
  /* The same binary is the native supervisor, which nsbox execs in its own
   * place once the command runs. */
  if (argc >= 1 && strcmp(argv[0], "nsbox-supervise") == 0) return nsbox_supervise_main(argc, argv);
  int plan_fd, sync_rd, msg_fd;
  if (argc != 5 || strcmp(argv[1], "--setup") != 0 || parse_fd(argv[2], &plan_fd) < 0 ||
      parse_fd(argv[3], &sync_rd) < 0 || parse_fd(argv[4], &msg_fd) < 0) {
    _exit(NSBOX_EXIT_SETUP); /* not started by nsbox_spawn: no one to tell */
  }
  /* Every descriptor the caller passed (the pipes to it, and those the ops
   * use, which the clone child let through the exec) is close-on-exec again,
   * as it was in the caller: the ops use them (dup2 makes copies that are
   * not), the command gets none of them. */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3; fd < 1024; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* before Linux 5.11 */
  }
  struct stat st;
  if (fstat(plan_fd, &st) < 0 || (size_t)st.st_size < sizeof(struct nsbox_plan)) {
    fail(msg_fd, NSBOX_STEP_SYNC, EINVAL, NSBOX_EXIT_SETUP);
  }
  size_t size = (size_t)st.st_size;
  /* Copied into anonymous memory, not mapped: PID 1 maps no file but its own binary. */
  char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) fail(msg_fd, NSBOX_STEP_SYNC, errno, NSBOX_EXIT_SETUP);
  for (size_t got = 0; got < size;) {
    ssize_t n = pread(plan_fd, base + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(msg_fd, NSBOX_STEP_SYNC, n < 0 ? errno : EIO, NSBOX_EXIT_SETUP);
    got += (size_t)n;
  }
  close(plan_fd);
  struct nsbox_plan *p = (struct nsbox_plan *)base;
  if (p->abi_version != NSBOX_ABI_VERSION || p->relocs > size || (size - p->relocs) / 4 < p->reloc_count) {
    fail(msg_fd, NSBOX_STEP_SYNC, EPROTO, NSBOX_EXIT_SETUP);
  }
  const uint32_t *relocs = (const uint32_t *)(base + p->relocs);
  for (uint32_t i = 0; i < p->reloc_count; i++) {
    if (relocs[i] > size - 8 || relocs[i] % 8) fail(msg_fd, NSBOX_STEP_SYNC, EPROTO, NSBOX_EXIT_SETUP);
    uint64_t *field = (uint64_t *)(base + relocs[i]);
    if (*field >= size) fail(msg_fd, NSBOX_STEP_SYNC, EPROTO, NSBOX_EXIT_SETUP);
    *field += (uint64_t)(uintptr_t)base;
  }
  child_main(p, sync_rd, msg_fd);
}
#endif
