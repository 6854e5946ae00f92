/*
 * nsbox_helper.h - the ABI between nsbox's TypeScript side and its C helper.
 *
 * TypeScript decides everything: which namespaces, which mounts in which
 * order, which capabilities, how the command is found. It writes a
 * `struct nsbox_plan` (and the ops and strings it points to) into memory it
 * owns and calls nsbox_spawn(). The helper clones the child, which waits for
 * the parent's go (after uid_map/gid_map and cgroup placement), replays the
 * ops one by one with raw system calls, and execs. No malloc, no policy.
 *
 * Every failure in the child is reported as one `struct nsbox_msg` on a
 * close-on-exec pipe: {kind = NSBOX_MSG_ERROR, step, err}. `step` is the index
 * of the op that failed, or one of the NSBOX_STEP_* phases below. End of file
 * on that pipe without an error means the command was executed.
 *
 * All structures are little-endian, naturally aligned, fixed size; pointers
 * and 64-bit numbers are uint64_t so the layout is identical from TypeScript.
 * Bump NSBOX_ABI_VERSION on any change (src/spawn/abi.ts mirrors this file).
 */
#ifndef NSBOX_HELPER_H
#define NSBOX_HELPER_H

#include <stdint.h>

#define NSBOX_ABI_VERSION 10

#define NSBOX_EXPORT __attribute__((visibility("default")))

/* Op kinds. Fields not named are ignored and should be zero. */
enum nsbox_op_kind {
  /* mount(a, b, c, n1, d): a=source b=target c=fstype d=data n1=mountflags */
  NSBOX_OP_MOUNT = 1,
  /* mount_setattr(AT_FDCWD, b, n3, {n1 set, n2 clear}): n3=AT_RECURSIVE etc. */
  NSBOX_OP_MOUNT_SETATTR = 2,
  /* umount2(b, n1) */
  NSBOX_OP_UMOUNT = 3,
  /* mkdir(b, n1); NSBOX_OPF_IGNORE_EXISTS makes EEXIST success */
  NSBOX_OP_MKDIR = 4,
  /* open(b, O_CREAT|O_EXCL|O_WRONLY, n1) then close; IGNORE_EXISTS as above */
  NSBOX_OP_MKFILE = 5,
  /* symlink(a, b); IGNORE_EXISTS as above */
  NSBOX_OP_SYMLINK = 6,
  /* pivot_root(a, b) */
  NSBOX_OP_PIVOT_ROOT = 7,
  /* chdir(b); on failure, when a is set, chdir(a) */
  NSBOX_OP_CHDIR = 8,
  /* sethostname(a, strlen(a)) */
  NSBOX_OP_SETHOSTNAME = 9,
  /* prctl(n1, n2, n3, 0, 0) */
  NSBOX_OP_PRCTL = 10,
  /* prctl(PR_CAPBSET_DROP, cap) for every bit set in n1 (cap 0..63) */
  NSBOX_OP_CAPBSET_DROP = 11,
  /* capset v3: n1=effective n2=permitted n3=inheritable (64-bit masks);
   * then clear the ambient set when NSBOX_OPF_CLEAR_AMBIENT */
  NSBOX_OP_CAPSET = 12,
  /* close_range(n1, ~0U, CLOSE_RANGE_CLOEXEC): fds >= n1 close at exec */
  NSBOX_OP_CLOEXEC_FROM = 13,
  /* seccomp(SECCOMP_SET_MODE_FILTER, n2, {n1 instructions at a}) */
  NSBOX_OP_SECCOMP = 14,
  /* write(open(b, O_WRONLY|O_CREAT|O_TRUNC, n2), a, n1) */
  NSBOX_OP_WRITE_FILE = 15,
  /* bring network interface a up (SIOCSIFFLAGS |= IFF_UP) */
  NSBOX_OP_LINK_UP = 16,
  /* unshare(n1): e.g. CLONE_NEWCGROUP once the parent has placed the child */
  NSBOX_OP_UNSHARE = 17,
  /* unshare(CLONE_NEWUSER | n1) into a user namespace nested in the current
   * one, whose maps a forked helper (still holding this namespace's
   * capabilities) writes, or the caller itself with NSBOX_OPF_SELF_MAP:
   * a = uid_map text, b = gid_map text, c = setgroups text or 0 to leave it. With CLONE_NEWNS in n1 every mount made so far
   * becomes locked: the sandbox cannot remount, move or unmount it. */
  NSBOX_OP_NEST_USERNS = 18,
  /* dup2(n1, n2), the copy without close-on-exec (also when n1 == n2) */
  NSBOX_OP_DUP2 = 19,
  /* open(b, n1, n2) as descriptor n3 (without close-on-exec) */
  NSBOX_OP_OPEN = 20,
  /* setns(n1, n2): join the namespace open as descriptor n1 (n2: CLONE_NEW* or 0) */
  NSBOX_OP_SETNS = 21,
  /* ioctl(n1, NS_GET_PARENT) as descriptor n3: the parent of a user namespace */
  NSBOX_OP_NS_PARENT = 22,
  /* close(n1) */
  NSBOX_OP_CLOSE = 23,
  /* setsid() */
  NSBOX_OP_SETSID = 24,
  /* slot n3 = openat2(dir, b, {n1 | O_CLOEXEC, n2, resolve}) */
  NSBOX_OP_OPEN_SLOT = 25,
  /* close(slot n1); the slot becomes empty */
  NSBOX_OP_CLOSE_SLOT = 26,
  /* slot n3 = open_tree(P, "", n1 | AT_EMPTY_PATH | OPEN_TREE_CLOEXEC), where P
   * is openat2(dir, b, {O_PATH, resolve}), or dir itself when b is "" */
  NSBOX_OP_OPEN_TREE = 27,
  /* slot n3 = fsmount() of a new superblock of type a, configured with the
   * options in c ("key=value" or "key" strings one after the other, each
   * NUL-terminated, the list ended by an empty string), mount attributes
   * n1 (MOUNT_ATTR_*) */
  NSBOX_OP_FSMOUNT = 28,
  /* move_mount(slot n1, "", T, "", F_EMPTY_PATH | T_EMPTY_PATH) where T is
   * openat2(dir, b, {O_PATH, resolve}); slot n1 is closed, also on failure */
  NSBOX_OP_MOVE_MOUNT = 29,
  /* `nsbox exec --user`: setgroups(1, {n2}) when NSBOX_OPF_SETGROUPS, setresgid(n2),
   * then setresuid(n1) keeping the permitted capabilities (PR_SET_KEEPCAPS) and
   * making them effective again, so that the ops after it still can drop them */
  NSBOX_OP_SETIDS = 30,
  /* s = socket(family of sockaddr a, SOCK_STREAM | SOCK_CLOEXEC, 0);
   * setsockopt(s, SOL_SOCKET, SO_REUSEADDR, 1); bind(s, a, n1 bytes);
   * listen(s, n3); send s over the unix socket n2 (one byte, SCM_RIGHTS);
   * close(s). Made in the child's network namespace, used outside it. */
  NSBOX_OP_LISTEN_SEND = 31,
};

/* Op flags. MKDIR, MKFILE and SYMLINK with `dir` set resolve b's parent
 * from `dir` with `resolve` and create its last component there (never
 * following a symlink in it). MOUNT_SETATTR with `dir` set acts on that
 * slot's mount when b is "". */
#define NSBOX_OPF_IGNORE_EXISTS 0x1u
#define NSBOX_OPF_CLEAR_AMBIENT 0x2u
/* any op: ENOENT counts as success (masking paths a kernel may not have) */
#define NSBOX_OPF_IGNORE_MISSING 0x4u
/* NSBOX_OP_NEST_USERNS: the maps map one id, the caller's own; it writes them
 * itself after unshare (no helper process) */
#define NSBOX_OPF_SELF_MAP 0x8u
/* NSBOX_OP_SETIDS: set the supplementary groups to the gid alone */
#define NSBOX_OPF_SETGROUPS 0x10u

/* Slots: descriptors the ops open and refer to by number (0 .. NSBOX_SLOTS-1),
 * so that a path resolved once (the new root, a detached mount) cannot be
 * swapped underneath later ops. An op whose slot is empty fails with ENOENT
 * (so NSBOX_OPF_IGNORE_MISSING skips chains whose first op was skipped). */
#define NSBOX_SLOTS 8

struct nsbox_op {
  uint32_t kind;  /* enum nsbox_op_kind */
  uint32_t flags; /* NSBOX_OPF_* */
  uint64_t a, b, c, d; /* const char * (or other pointers), 0 for NULL */
  uint64_t n1, n2, n3; /* numbers */
  /* MKDIR, MKFILE, SYMLINK, MOUNT_SETATTR and the slot ops: the directory b
   * is resolved from (a slot), or -1 for the current directory (b as is) */
  int32_t dir;
  /* RESOLVE_* for openat2(2) when b is resolved from `dir` (0: none) */
  uint32_t resolve;
}; /* 72 bytes */

/* How the command is run once the ops are done. */
enum nsbox_init_mode {
  NSBOX_INIT_NONE = 0, /* the child execs the command itself (PID 1) */
  NSBOX_INIT_REAPER = 1, /* the child stays as PID 1: forks the command,
                            forwards signals, reaps, exits with its status */
};

struct nsbox_plan {
  uint32_t abi_version; /* NSBOX_ABI_VERSION */
  uint32_t op_count;
  uint64_t clone_flags; /* CLONE_NEW*; CLONE_PIDFD is always added */
  uint64_t ops; /* const struct nsbox_op * */
  uint64_t file; /* const char *: with a '/', executed as is */
  uint64_t argv; /* char *const *, NULL-terminated */
  uint64_t envp; /* char *const *, NULL-terminated */
  uint64_t search_path; /* const char *: PATH used to find `file`, or 0 */
  uint64_t forward_signals; /* bit (N-1) set: init forwards signal N */
  int32_t pdeathsig; /* signal the child gets when the spawning thread dies; 0: none */
  int32_t init_mode; /* enum nsbox_init_mode */
  int32_t cgroup_fd; /* >= 0: CLONE_INTO_CGROUP this directory fd; -1: none */
  uint32_t flags; /* NSBOX_PLAN_* */
  /* The plan is position-independent: every pointer field (in this struct,
   * in the ops, in argv and envp) holds an offset from the plan's start, and
   * `relocs` is the offset of a uint32_t[reloc_count] table listing where
   * those fields are; the static nsbox-init adds the address it mapped the
   * plan at to each. */
  uint32_t reloc_count;
  uint32_t relocs;
}; /* 88 bytes */

/* Plan flags. */
/* With NSBOX_INIT_REAPER: after reporting the command's exit, PID 1 waits
 * until the parent closes the sync pipe, so the parent can read the cgroup's
 * statistics while the sandbox (and so its cgroup) still exists. */
#define NSBOX_PLAN_HOLD_EXIT 0x1u
/* The command never stays in the caller's process group, where kill(0, ...)
 * from inside would reach the caller's script and its other jobs, and a stop
 * would look like the caller's. TypeScript sets exactly one of these three
 * (none: the process stays where it is, for nsbox's own helper programs).
 * The command (forked by PID 1, or the child itself with NSBOX_INIT_NONE):
 * NSBOX_PLAN_FOREGROUND: gets a process group of its own and becomes the
 * foreground process group of the terminal on fd 0, 1 or 2 (the first that
 * is nsbox's controlling terminal): Ctrl-C, Ctrl-Z and resizes reach it
 * alone, and a shell inside can do job control. PID 1 reports when it stops
 * (NSBOX_MSG_STOPPED) so the parent can hand the terminal back to the
 * caller's shell. */
#define NSBOX_PLAN_FOREGROUND 0x2u
/* NSBOX_PLAN_OWN_GROUP: a process group of its own, without the terminal (nsbox
 * has a controlling terminal but runs in the background). Not a session: in
 * a session of its own it could read the terminal freely (no controlling
 * terminal, no job control); in a background group of the terminal's session
 * it gets SIGTTIN like any background job, and kill(0, ...) still reaches
 * only its own group. */
#define NSBOX_PLAN_OWN_GROUP 0x8u
/* NSBOX_PLAN_OWN_SESSION: setsid() before exec (nsbox has no controlling
 * terminal: scripts, CI), as bwrap --new-session does. */
#define NSBOX_PLAN_OWN_SESSION 0x10u
/* PID 1 kills and reaps every process left (adopted as a subreaper) once the
 * command has exited: for a sandbox without a PID namespace of its own. */
#define NSBOX_PLAN_KILL_ORPHANS 0x4u

struct nsbox_spawn_result {
  int32_t pid; /* the child's pid in the caller's PID namespace */
  int32_t pidfd; /* close-on-exec pidfd of the child */
  int32_t sync_fd; /* write one byte to release the child; close to abort it
                      (and, with NSBOX_PLAN_HOLD_EXIT, to let PID 1 exit) */
  int32_t msg_fd; /* read struct nsbox_msg records until end of file */
};

/* Phases that are not an op. */
#define NSBOX_STEP_SYNC (-1) /* waiting for the parent's go */
#define NSBOX_STEP_EXEC (-2) /* finding and executing the command */
#define NSBOX_STEP_INIT (-3) /* PID 1 forking the command */

enum nsbox_msg_kind {
  NSBOX_MSG_ERROR = 1, /* step and err are set; the child exits */
  NSBOX_MSG_EXIT = 2, /* from init: value is the command's wait status */
  NSBOX_MSG_STOPPED = 3, /* from init: the command stopped; value is the signal */
  NSBOX_MSG_STARTED = 4, /* from init: the command was executed; value is its pid inside */
  /* from init, before NSBOX_MSG_EXIT: what the command used (its wait4
   * rusage, its reaped descendants included). step 0: user time, 1: system
   * time (err: seconds, value: microseconds); step 2: ru_maxrss (value,
   * KiB). PID 1's own rusage would not do: a process started vfork-style
   * (as every child of nsbox is) counts its parent's resident size as its
   * own peak. */
  NSBOX_MSG_RUSAGE = 5,
};

struct nsbox_msg {
  int32_t kind; /* enum nsbox_msg_kind */
  int32_t step; /* op index or NSBOX_STEP_* */
  int32_t err; /* errno */
  int32_t value; /* NSBOX_MSG_EXIT: wait status */
};

/* Exit codes of the child when it fails before the command runs. */
#define NSBOX_EXIT_SETUP 125
#define NSBOX_EXIT_CANNOT_EXEC 126
#define NSBOX_EXIT_NOT_FOUND 127

/* ---------------------------------------------------------------- supervisor
 *
 * Once the command runs (NSBOX_MSG_STARTED, or end of file with
 * NSBOX_INIT_NONE), nsbox hands the sandbox to the native supervisor: the
 * static binary built from these sources with NSBOX_STATIC_INIT, started as
 * argv {"nsbox-supervise", "<config fd>"}. The CLI execs it in place of the
 * Deno process (nsbox_exec_supervisor: same pid, so PID 1, the network
 * helpers and the terminal job stay its own); the library starts it as a
 * child. The config is a sealed memfd holding a `struct nsbox_sv_config`
 * followed by its ops and strings; string fields are byte offsets into the
 * config (0: none), NUL-terminated.
 *
 * The supervisor forwards signals to PID 1, does the terminal job control,
 * reads PID 1's reports (NSBOX_MSG_STOPPED, NSBOX_MSG_EXIT), reaps it, then
 * replays the ops in order: TypeScript decides what is cleaned up, how, and
 * every word printed; the supervisor fills numbers into templates.
 *
 * Templates: text with `{name}` (a value; `null` when it is unknown),
 * `{name:size}` (bytes as 1.5M), `{name:s}` (milliseconds as "1.234 s"),
 * `{name:q}` (a JSON string, or null), `{name:bool}` (true or false),
 * `{?name}...{/}` (only when the value is known; a boolean: true),
 * `{!name}...{/}` (only when it is not), nesting allowed; `{{` is a literal
 * `{`. Values: exit,
 * code, signal (its name), oom, wall_ms, stats, cpu (both cpu times known),
 * cpu_user_ms, cpu_system_ms, memory_peak, pids_peak, oom_kills, ended (ISO
 * 8601 time), mac (the exit record's HMAC, hex), signum (the signal a stop
 * hint is about, by name), timed_out (--timeout expired), egress (text read
 * by NSBOX_SV_READ_EGRESS, inserted as is); when the command never ran:
 * step (the failed step), step_what (what that set-up op does, from
 * step_whats), errno, errno_name, errno_text (from errnos). `{name:j}` is a
 * string's JSON escaping, without the quotes; `{name:q}` quotes it too. */
enum nsbox_sv_op_kind {
  /* Kill what the sandbox left when it shares nsbox's PID namespace: with
   * a = a cgroup directory (b: a second one, or 0), cgroup.kill each and
   * wait until they are empty; when there is none or that fails, every
   * process whose user namespace is fd's (an open user namespace) or nested
   * in it, scan after scan until none is found. */
  NSBOX_SV_SWEEP = 1,
  /* Copy what is left in the log pipe, until every writer closed it or
   * `arg` ms passed. */
  NSBOX_SV_FINISH_LOG = 2,
  /* Render template a to descriptor fd (2: nsbox's stderr). */
  NSBOX_SV_REPORT = 3,
  /* Write the exit record into record_fd: file a, HMAC-SHA256 (key) over
   * mac_prefix + the rendered body template b, file template c. */
  NSBOX_SV_EXIT_RECORD = 4,
  /* SIGTERM the process of pidfd fd, SIGKILL after `arg` ms; reap it. While
   * the command runs, the supervisor also watches it: if it ends before
   * then, template a (when set) is rendered to fd 2, once. */
  NSBOX_SV_STOP_HELPER = 5,
  /* cgroup.kill the cgroup directory a and remove it, waiting up to `arg`
   * ms while it is busy. */
  NSBOX_SV_REMOVE_CGROUP = 6,
  /* Write text b into file a (best effort). */
  NSBOX_SV_WRITE_FILE = 7,
  /* Remove directory a and the files in it (not recursive). */
  NSBOX_SV_REMOVE_DIR = 8,
  /* Bring the log back under its cap (after nsbox's own last lines). */
  NSBOX_SV_TRIM_LOG = 9,
  /* Write a struct nsbox_sv_result to descriptor fd (the library). */
  NSBOX_SV_RESULT = 10,
  /* Remove file a (in the record directory when relative). */
  NSBOX_SV_REMOVE_FILE = 11,
  /* pread descriptor fd (a memfd a helper wrote) from offset 0, up to `arg`
   * bytes (at most NSBOX_SV_MAX_EGRESS), and close it: the text becomes the
   * template value `egress`, inserted as is, when it is not empty, fits, and
   * ends with a newline (which is dropped; a helper killed halfway wrote
   * none); otherwise `egress` stays unknown (null). */
  NSBOX_SV_READ_EGRESS = 12,
};

#define NSBOX_SV_MAX_EGRESS (1024 * 1024)

struct nsbox_sv_op {
  int32_t kind; /* enum nsbox_sv_op_kind */
  int32_t fd;
  int64_t arg;
  uint32_t a, b, c; /* string offsets */
  uint32_t reserved;
}; /* 32 bytes */

#define NSBOX_TERMINAL_NONE 0
#define NSBOX_TERMINAL_FOREGROUND 1
#define NSBOX_TERMINAL_BACKGROUND 2

#define NSBOX_STATS_NONE 0
#define NSBOX_STATS_CGROUP 1 /* read from stats_path when the command exits */
#define NSBOX_STATS_RUSAGE 2 /* getrusage(RUSAGE_CHILDREN) once PID 1 is reaped */

/* Config flags. */
#define NSBOX_SV_COMMAND_IS_PID1 0x1u /* --as-pid-1: PID 1 is the command (its own group) */
#define NSBOX_SV_SAVED_TERMINAL 0x2u /* saved_* hold the terminal's state */

#define NSBOX_SV_MAX_CONFIG (256 * 1024)

struct nsbox_sv_config {
  uint32_t abi_version; /* NSBOX_ABI_VERSION */
  uint32_t size; /* of the whole config */
  uint32_t flags; /* NSBOX_SV_* */
  int32_t terminal; /* NSBOX_TERMINAL_*: nsbox's mode when the command started */
  int32_t pid; /* PID 1, in the supervisor's PID namespace */
  int32_t pidfd; /* PID 1's pidfd */
  int32_t msg_fd; /* PID 1's reports */
  int32_t hold_fd; /* closed (after the statistics) to let PID 1 exit; -1 */
  int32_t command_ns_pid; /* the command's pid inside (1 with --as-pid-1; 2 when PID 1 is nsbox-init) */
  int32_t log_rd; /* the log pipe's read end (detached); -1 */
  int32_t record_fd; /* the record's directory; -1 */
  int32_t stats; /* NSBOX_STATS_* */
  int64_t log_cap; /* bytes the log is held to */
  int64_t elapsed_us; /* wall time from spawn to the handover */
  uint64_t forward_signals; /* bit (N-1): forward signal N to PID 1 */
  int32_t saved_fd; /* the terminal's descriptor (0-2) */
  int32_t saved_ldisc;
  int32_t saved_exclusive;
  uint32_t saved_termios_len; /* bytes of saved_termios used */
  uint8_t saved_termios[64]; /* struct termios (TCGETS) */
  uint32_t stats_path; /* the cgroup directory for NSBOX_STATS_CGROUP */
  uint32_t log_path; /* the log (detached) */
  uint32_t key; /* 32 bytes: the records' HMAC key */
  uint32_t mac_prefix; /* bytes before the body in the MAC's input */
  uint32_t mac_prefix_len;
  uint32_t stop_hint; /* template: the command stopped while nsbox is not the foreground job */
  uint32_t signal_names; /* 65 NUL-terminated names, by number (0 unused) */
  uint32_t op_count;
  uint32_t ops; /* offset of struct nsbox_sv_op[op_count], 8-aligned */
  uint32_t reserved;
  int64_t timeout_us; /* --timeout: SIGTERM to PID 1 this long after the spawn; 0: none */
  int64_t kill_after_us; /* then SIGKILL this long after the SIGTERM */
  /* A CLI that hands over at the release, before the command runs: how a
   * failure before then is reported. The first rule whose step and err
   * match (err -1: any) gives the exit status, and its template replaces
   * NSBOX_SV_REPORT's. None (0): the result says (the library), or the
   * command ran before the handover. */
  uint32_t fail_count;
  uint32_t fails; /* offset of struct nsbox_sv_fail[fail_count], 4-aligned */
  uint32_t step_whats; /* what each set-up op does, NUL-terminated, by step (0: none) */
  uint32_t step_what_count;
  uint32_t errnos; /* "NAME\0text\0" by errno from 0 ("\0\0": none) (0: none) */
  uint32_t errno_count;
}; /* 232 bytes */

#define NSBOX_SV_ANY_STEP INT32_MIN /* a rule's step: any step */

struct nsbox_sv_fail {
  int32_t step; /* NSBOX_STEP_*, an op's index, or NSBOX_SV_ANY_STEP */
  int32_t err; /* an errno, or -1: any */
  int32_t exit_code;
  uint32_t text; /* template: what nsbox prints */
}; /* 16 bytes */

/* What NSBOX_SV_RESULT writes. Unknown numbers are -1. */
struct nsbox_sv_result {
  int32_t kind; /* 1: exited (value: code), 2: killed (value: signal), 3: failed (value: errno, step) */
  int32_t value;
  int32_t step;
  int32_t stats; /* NSBOX_STATS_* actually read; NONE: no statistics */
  int32_t timed_out; /* 1: --timeout expired (the exit status is 124) */
  int32_t reserved;
  int64_t wall_us;
  int64_t cpu_user_us;
  int64_t cpu_system_us;
  int64_t memory_peak;
  int64_t pids_peak;
  int64_t oom_kills;
}; /* 72 bytes */

/* Forwards the signals in `forward` (bit N-1: signal N) to pidfd from a
 * handler, on whichever thread gets them, replacing their dispositions (the
 * CLI, from the child's release until the supervisor takes over). */
NSBOX_EXPORT int nsbox_forward_signals(int32_t pidfd, uint64_t forward);

/* Hands this process over to the supervisor (the CLI): blocks `block` on the
 * calling thread (pending across the exec, for the supervisor's signalfd),
 * clears close-on-exec on keep[0..nkeep), and execs exe_fd with argv and
 * the current environment. Returns -errno only when that fails (the mask
 * and the descriptors put back). Call on the main thread: children's
 * parent-death signals follow the creating thread. */
NSBOX_EXPORT int nsbox_exec_supervisor(int exe_fd, char *const *argv, const int32_t *keep, int32_t nkeep,
                                       uint64_t block);

/* Spawns the child described by plan: a vfork-style clone (sharing the
 * caller's memory on a private stack, the caller suspended until it execs)
 * that execs the static nsbox-init (exe_fd) at once, with `plan_fd` (a
 * memfd holding the same plan, position-independent) and the pipes; the
 * descriptors keep[0..nkeep) that the plan's ops use survive that exec.
 * Returns 0 and fills *out, or -errno (-EPROTO for an ABI version
 * mismatch). Call from the thread whose death should kill the child
 * (pdeathsig follows the creating thread). */
NSBOX_EXPORT int nsbox_spawn(const struct nsbox_plan *plan, int32_t exe_fd, int32_t plan_fd, const int32_t *keep,
                             int32_t nkeep, struct nsbox_spawn_result *out);

/* The ABI version this library was built with. */
NSBOX_EXPORT uint32_t nsbox_abi_version(void);
/* 1 when built with NSBOX_FAULTS (the test build): only then is NSBOX_FAULT honoured. */
NSBOX_EXPORT int32_t nsbox_fault_injection(void);

#endif
