/**
 * The C library calls nsbox makes from TypeScript: a hand-written symbol
 * table, opened on first use so that parsing and planning never need FFI.
 *
 * Calls return what the C library returns; src/errors.ts's check() is the
 * one place that turns a `-1`/`errno` return into an error.
 *
 * @module
 */

/** libc symbols; each parameter is commented with its C type. */
export const LIBC_SYMBOLS = {
  /** int memfd_create(const char *name, unsigned int flags) */
  memfd_create: { parameters: ["buffer", /* const char * */ "u32" /* unsigned int */], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: { parameters: ["i32", /* int */ "buffer", /* const void * */ "usize" /* size_t */], result: "isize" },
  /** ssize_t read(int fd, void *buf, size_t count), on a worker thread */
  read: {
    parameters: ["i32", /* int */ "buffer", /* void * */ "usize" /* size_t */],
    result: "isize",
    nonblocking: true,
  },
  /** int socketpair(int domain, int type, int protocol, int sv[2]) */
  socketpair: { parameters: ["i32", /* int */ "i32", /* int */ "i32", /* int */ "buffer" /* int[2] */], result: "i32" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", /* int */ "i32", /* int */ "i32" /* int */], result: "i32" },
  /** int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen) */
  setsockopt: {
    parameters: ["i32", /* int */ "i32", /* int */ "i32", /* int */ "buffer", /* const void * */ "u32" /* socklen_t */],
    result: "i32",
  },
  /** int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen) */
  bind: { parameters: ["i32", /* int */ "buffer", /* const struct sockaddr * */ "u32" /* socklen_t */], result: "i32" },
  /** int listen(int sockfd, int backlog) */
  listen: { parameters: ["i32", /* int */ "i32" /* int */], result: "i32" },
  /** ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags), on a worker thread */
  recvmsg: {
    parameters: ["i32", /* int */ "buffer", /* struct msghdr * */ "i32" /* int */],
    result: "isize",
    nonblocking: true,
  },
  /** int fcntl(int fd, int cmd, int arg): the commands nsbox uses take an int (F_ADD_SEALS) */
  fcntl: { parameters: ["i32", /* int */ "i32", /* int */ "i32" /* int */], result: "i32" },
  /** int fchmod(int fd, mode_t mode) */
  fchmod: { parameters: ["i32", /* int */ "u32" /* mode_t */], result: "i32" },
  /** int close(int fd) */
  close: { parameters: ["i32" /* int */], result: "i32" },
  /** int waitid(idtype_t idtype, id_t id, siginfo_t *infop, int options), on a worker thread */
  waitid: {
    parameters: ["i32", /* idtype_t */ "u32", /* id_t */ "buffer", /* siginfo_t * */ "i32" /* int */],
    result: "i32",
    nonblocking: true,
  },
  /** The same waitid, on the calling thread: for WNOHANG polls. */
  waitid_now: {
    name: "waitid",
    parameters: ["i32", /* idtype_t */ "u32", /* id_t */ "buffer", /* siginfo_t * */ "i32" /* int */],
    result: "i32",
  },
  /** pid_t wait4(pid_t pid, int *wstatus, int options, struct rusage *rusage), on the calling thread */
  wait4: {
    parameters: ["i32", /* pid_t */ "buffer", /* int * */ "i32", /* int */ "buffer" /* struct rusage * */],
    result: "i32",
  },
  /** int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags) */
  pidfd_send_signal: {
    parameters: ["i32", /* int */ "i32", /* int */ "pointer", /* siginfo_t * */ "u32" /* unsigned int */],
    result: "i32",
  },
  /** pid_t tcgetpgrp(int fd) */
  tcgetpgrp: { parameters: ["i32" /* int */], result: "i32" },
  /** int tcsetpgrp(int fd, pid_t pgrp) */
  tcsetpgrp: { parameters: ["i32", /* int */ "i32" /* pid_t */], result: "i32" },
  /** int isatty(int fd) */
  isatty: { parameters: ["i32" /* int */], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *argp): a request whose argument is a pointer */
  ioctl_ptr: {
    name: "ioctl",
    parameters: ["i32", /* int */ "u64", /* unsigned long */ "buffer" /* void * */],
    result: "i32",
  },
  /** pid_t getpid(void) */
  getpid: { parameters: [], result: "i32" },
  /** int kill(pid_t pid, int sig) */
  kill: { parameters: ["i32", /* pid_t */ "i32" /* int */], result: "i32" },
  /** int pthread_sigmask(int how, const sigset_t *set, sigset_t *oldset) */
  pthread_sigmask: {
    parameters: ["i32", /* int */ "buffer", /* const sigset_t * */ "buffer" /* sigset_t * */],
    result: "i32",
  },
  /** int pidfd_open(pid_t pid, unsigned int flags) */
  pidfd_open: { parameters: ["i32", /* pid_t */ "u32" /* unsigned int */], result: "i32" },
  /** pid_t getpgrp(void) */
  getpgrp: { parameters: [], result: "i32" },
  /** int getrusage(int who, struct rusage *usage) */
  getrusage: { parameters: ["i32", /* int */ "buffer" /* struct rusage * */], result: "i32" },
  /** int pipe2(int pipefd[2], int flags) */
  pipe2: { parameters: ["buffer", /* int[2] */ "i32" /* int */], result: "i32" },
  /** The same read, on the calling thread: after poll said the descriptor is readable. */
  read_now: {
    name: "read",
    parameters: ["i32", /* int */ "buffer", /* void * */ "usize" /* size_t */],
    result: "isize",
  },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout), on a worker thread */
  poll: {
    parameters: ["buffer", /* struct pollfd * */ "u64", /* nfds_t */ "i32" /* int */],
    result: "i32",
    nonblocking: true,
  },
  /** int open(const char *pathname, int flags, mode_t mode) */
  open: { parameters: ["buffer", /* const char * */ "i32", /* int */ "u32" /* mode_t */], result: "i32" },
  /** int dup2(int oldfd, int newfd) */
  dup2: { parameters: ["i32", /* int */ "i32" /* int */], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg): the request codes nsbox uses take an integer or none */
  ioctl: { parameters: ["i32", /* int */ "u64", /* unsigned long */ "u64" /* unsigned long */], result: "i32" },
  /** char *strerror(int errnum) */
  strerror: { parameters: ["i32" /* int */], result: "pointer" },
  /** char *realpath(const char *path, char *resolved_path): resolved_path of PATH_MAX bytes */
  realpath: { parameters: ["buffer", /* const char * */ "buffer" /* char * */], result: "pointer" },
  /** void *dlopen(const char *filename, int flags) */
  dlopen: { parameters: ["buffer", /* const char * */ "i32" /* int */], result: "pointer" },
  /** char *dlerror(void) */
  dlerror: { parameters: [], result: "pointer" },
  /** int *__errno_location(void) */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened C library's symbols. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

// Binding a symbol with Deno.dlopen costs a trampoline (~0.15 ms each here):
// binding the whole table up front cost 4-6 ms of every start. Each symbol is
// bound on its first call instead, and as a pointer: dlsym (the one symbol
// bound with dlopen) finds it and Deno.UnsafeFnPointer calls it (~0.02 ms
// each), so a run pays for one dlopen and the few symbols it uses. Where libc
// has no dlsym (glibc before 2.34 keeps it in libdl), each symbol gets a
// dlopen of its own, as before.
const bound: Record<string, unknown> = {};
const libraries: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [];
const DLSYM = {
  dlsym: { parameters: ["pointer", /* void *handle */ "buffer" /* const char * */], result: "pointer" },
} as const;
let dlsym: Deno.DynamicLibrary<typeof DLSYM>["symbols"]["dlsym"] | null | undefined;

/** The address of `symbol` in the process (RTLD_DEFAULT, `handle` null) or in library `handle`; null when unknown. */
export function lookupSymbol(handle: Deno.PointerValue, symbol: string): Deno.PointerValue {
  if (dlsym === undefined) {
    try {
      const lib = Deno.dlopen("libc.so.6", DLSYM);
      libraries.push(lib);
      dlsym = lib.symbols.dlsym;
    } catch {
      dlsym = null;
    }
  }
  return dlsym ? dlsym(handle, cString(symbol)) : null;
}

/** `def` at `pointer`, callable like a symbol of Deno.dlopen. */
export function bindPointer(pointer: Deno.PointerObject, def: Deno.ForeignFunction): unknown {
  const fn = new Deno.UnsafeFnPointer(pointer as Deno.PointerObject<Deno.ForeignFunction>, def);
  return fn.call.bind(fn);
}

const libc = new Proxy({} as Libc, {
  get(_, name) {
    if (typeof name !== "string" || !(name in LIBC_SYMBOLS)) return undefined;
    if (!(name in bound)) {
      const def: Deno.ForeignFunction & { name?: string } = LIBC_SYMBOLS[name as keyof typeof LIBC_SYMBOLS];
      const pointer = lookupSymbol(null, def.name ?? name);
      if (pointer) bound[name] = bindPointer(pointer, def);
      else {
        const lib = Deno.dlopen("libc.so.6", { [name]: def });
        libraries.push(lib);
        bound[name] = lib.symbols[name];
      }
    }
    return bound[name];
  },
});

/** The C library, each symbol bound on first use. */
export function getLibc(): Libc {
  return libc;
}

/** The calling thread's errno, right after a failed call. */
export function errno(): number {
  const p = getLibc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** A NUL-terminated copy of `s` for a `const char *` parameter. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}
