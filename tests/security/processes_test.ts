/**
 * Escape attempts against processes: the host's (see, signal, ptrace, enter
 * their namespaces) and nsbox's own PID 1 (ptrace, /proc/1, signals).
 */
import assert from "node:assert/strict";
import {
  attack,
  hasProgram,
  hostProcess,
  lines,
  NEEDS_PY_X86,
  nsbox,
  nsboxCommand,
  PY_MOUNT,
  PY_PRELUDE,
  results,
  sandboxPy,
  sandboxSh,
  tempDir,
  X86_64,
} from "./_lib.ts";

Deno.test({
  name: "escape: a host process is invisible: no /proc/PID, not among the sandbox's processes",
  ignore: NEEDS_PY_X86,
}, async () => {
  await using host = hostProcess();
  const r = await attack(`
out("stat", oserr(os.stat, "/proc/${host.pid}"))
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out("pids", " ".join(map(str, pids)))
out("self", os.getpid())
`);
  assert.equal(r.stat, "ENOENT");
  // only nsbox-init and the command itself
  assert.equal(r.pids, `1 ${r.self}`, "the sandbox sees processes other than its own");
  if (hasProgram("ps")) {
    const ps = await sandboxSh("ps -e -o pid=,comm=");
    assert.equal(ps.code, 0, ps.stderr);
    const seen = lines(ps.stdout).map((l) => l.trim().split(/\s+/));
    // PID 1 (nsbox-init), sh and ps: never the host's sleep
    assert.deepEqual(seen.map(([, comm]) => comm).slice(1), ["sh", "ps"], ps.stdout);
    assert.equal(seen[0]?.[0], "1", ps.stdout);
    assert.ok(!seen.some(([pid, comm]) => pid === String(host.pid) || comm === "sleep"), ps.stdout);
  }
  assert.ok(host.alive());
});

Deno.test({
  name: "escape: kill -0 / kill -9 / pidfd_open of a host pid fail with ESRCH (default and --root); it lives",
  ignore: NEEDS_PY_X86,
}, async () => {
  await using host = hostProcess();
  const script = `
out("kill0", oserr(os.kill, ${host.pid}, 0))
out("kill9", oserr(os.kill, ${host.pid}, 9))
out("pidfd_open", sc(434, ${host.pid}, 0))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  for (const r of [plain, root]) assert.deepEqual(r, { kill0: "ESRCH", kill9: "ESRCH", pidfd_open: "ESRCH" });
  // The same from a shell: kill(1) reports the ESRCH.
  const sh = await sandboxSh(`kill -9 ${host.pid}; echo "rc=$?"`, ["--root"]);
  assert.equal(sh.stdout, "rc=1\n", sh.stderr);
  assert.match(sh.stderr, /No such process/);
  assert.ok(host.alive(), "the host process was killed");
});

Deno.test({
  name: "escape: ptrace of a host process fails with ESRCH (PTRACE_ATTACH, PTRACE_SEIZE, strace -p), even with --root",
  ignore: NEEDS_PY_X86,
}, async () => {
  await using host = hostProcess();
  const r = await attack(
    `
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
for name, req in (("attach", 16), ("seize", 0x4206)):
    ctypes.set_errno(0)
    out(name, "ok" if libc.ptrace(req, ${host.pid}, None, None) == 0 else ename(ctypes.get_errno()))
`,
    ["--root"],
  );
  assert.deepEqual(r, { attach: "ESRCH", seize: "ESRCH" });
  if (hasProgram("strace")) {
    const s = await sandboxSh(`strace -p ${host.pid} -e trace=none`, ["--root"]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, new RegExp(`ptrace\\(PTRACE_SEIZE, ${host.pid}\\): No such process`));
  }
  assert.ok(host.alive());
});

Deno.test({
  name: "escape: ptrace of nsbox-init (PID 1) fails with EPERM (default and --root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
for name, req in (("attach", 16), ("seize", 0x4206)):
    ctypes.set_errno(0)
    out(name, "ok" if libc.ptrace(req, 1, None, None) == 0 else ename(ctypes.get_errno()))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  for (const r of [plain, root]) assert.deepEqual(r, { attach: "EPERM", seize: "EPERM" });
  if (hasProgram("strace")) {
    const s = await sandboxSh("strace -p 1 -e trace=none", ["--root"]);
    assert.match(s.stderr, /ptrace\(PTRACE_SEIZE, 1\): Operation not permitted/);
  }
});

/**
 * A static program that tries PTRACE_SEIZE on PID 1 as the first thing it
 * does. When that works it takes over nsbox-init: it injects
 * prctl(PR_SET_DUMPABLE, 1) into it (x86_64) and prints /proc/1/environ,
 * which is nsbox's own environment, from before --clearenv.
 */
const SEIZE_PID1_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  if (ptrace(PTRACE_SEIZE, 1, 0, 0) != 0) {
    printf("seize: %s\n", errno == EPERM ? "EPERM" : strerror(errno));
    return 0;
  }
  printf("seize: ATTACHED to nsbox-init\n");
#ifdef __x86_64__
  int st;
  struct user_regs_struct r, saved;
  if (ptrace(PTRACE_INTERRUPT, 1, 0, 0) != 0 || waitpid(1, &st, __WALL) != 1) return 3;
  ptrace(PTRACE_GETREGS, 1, 0, &saved);
  r = saved;
  r.rip = saved.rip - 2; /* the syscall instruction it is blocked in */
  r.rax = 157;           /* prctl */
  r.orig_rax = -1;
  r.rdi = 4; /* PR_SET_DUMPABLE */
  r.rsi = 1;
  ptrace(PTRACE_SETREGS, 1, 0, &r);
  ptrace(PTRACE_SYSCALL, 1, 0, 0);
  waitpid(1, &st, __WALL);
  ptrace(PTRACE_SYSCALL, 1, 0, 0);
  waitpid(1, &st, __WALL);
  saved.rip -= 2;
  saved.rax = saved.orig_rax;
  saved.orig_rax = -1;
  ptrace(PTRACE_SETREGS, 1, 0, &saved);
  ptrace(PTRACE_DETACH, 1, 0, 0);
  static char buf[1 << 16];
  int fd = open("/proc/1/environ", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
  for (ssize_t i = 0; i < n; i++) if (buf[i] == 0) buf[i] = ' ';
  if (n > 0) printf("nsbox's environment, read from PID 1: %.*s\n", (int)n, buf);
#endif
  return 0;
}
`;

/**
 * Runs nsbox with ~20000 inherited descriptors (nsbox-init closes them after
 * forking the command: the longer that takes, the wider a window left open).
 */
const MANY_FDS_PY = `
import os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 20000 if hard == resource.RLIM_INFINITY else min(hard, 20000)
resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
for _ in range(want - 64):
    os.set_inheritable(os.open("/dev/null", os.O_RDONLY), True)
os.execvp(sys.argv[1], sys.argv[1:])
`;

Deno.test({
  name: "escape: ptrace of nsbox-init in the instant it forks the command fails with EPERM (no race window)",
  ignore: !X86_64 || !hasProgram("cc") || !hasProgram("python3"),
}, async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/seize.c`, SEIZE_PID1_C);
  const cc = await new Deno.Command("cc", {
    args: ["-static", "-O2", "-o", `${dir.path}/seize`, `${dir.path}/seize.c`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
  const secret = `nsbox-secret-${crypto.randomUUID()}`;
  const [cmd, args] = nsboxCommand(["run", "--clearenv", "--ro-bind", dir.path, "--", `${dir.path}/seize`]);
  const once = async () => {
    const out = await new Deno.Command("python3", {
      args: ["-c", MANY_FDS_PY, cmd, ...args],
      env: { NSBOX_SECURITY_SECRET: secret },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  // Several at once, so that nsbox-init gets preempted now and then.
  const runs = [];
  for (let round = 0; round < 4; round++) runs.push(...await Promise.all([once(), once(), once(), once()]));
  const won = runs.filter((r) => r.stdout !== "seize: EPERM\n");
  assert.equal(
    won.length,
    0,
    `${won.length} of ${runs.length} sandboxes' commands were not refused ptrace(PTRACE_SEIZE, 1); the first:\n` +
      `${won[0]?.stdout}${won[0]?.stderr}`,
  );
  for (const r of runs) {
    assert.ok(!r.stdout.includes(secret), `the command read nsbox's environment through PID 1:\n${r.stdout}`);
    assert.equal(r.code, 0, r.stderr);
  }
});

Deno.test({
  name: "escape: /proc/1 of nsbox-init (exe, cwd, root, environ, mem, maps, fd, ns) is refused, even with --root",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
for p in ("exe", "cwd", "root"):
    out("readlink " + p, oserr(os.readlink, "/proc/1/" + p))
for p in ("environ", "mem", "maps", "auxv", "syscall", "stack"):
    out("read " + p, oserr(lambda f: open(f, "rb").read(1), "/proc/1/" + p))
for p in ("fd", "fdinfo", "root", "map_files"):
    out("list " + p, oserr(os.listdir, "/proc/1/" + p))
out("open exe", oserr(os.open, "/proc/1/exe", os.O_RDONLY))
`;
  const expected = {
    "readlink exe": "EACCES",
    "readlink cwd": "EACCES",
    "readlink root": "EACCES",
    "read environ": "EACCES",
    "read mem": "EACCES",
    "read maps": "EACCES",
    "read auxv": "EACCES",
    "read syscall": "EACCES",
    "read stack": "EACCES",
    "list fd": "EACCES",
    "list fdinfo": "EACCES",
    "list root": "EACCES",
    "list map_files": "EACCES",
    "open exe": "EACCES",
  };
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  assert.deepEqual(plain, expected);
  // With --root the command's uid is the one that owns PID 1's /proc entries (PID 1 was executed in the sandbox's
  // outer user namespace, whose root is the caller): it may list PID 1's descriptor numbers, nothing more. Every
  // read, readlink and open still needs ptrace access to PID 1, which it has not (EACCES, or EPERM for syscall).
  assert.deepEqual(root, { ...expected, "list fd": "ok", "read syscall": root["read syscall"] });
  assert.ok(["EACCES", "EPERM"].includes(root["read syscall"]!), String(root["read syscall"]));
});

Deno.test({
  name: "escape: pidfd_getfd (steal nsbox-init's pipe to nsbox) and process_vm_readv on PID 1 fail with EPERM (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
pidfd = libc.syscall(ctypes.c_long(434), ctypes.c_long(1), ctypes.c_long(0))
out("pidfd_open", "ok" if pidfd >= 0 else ename(ctypes.get_errno()))
out("pidfd_getfd", " ".join(sorted(set(sc(438, pidfd, fd, 0) for fd in range(0, 64)))))
buf = ctypes.create_string_buffer(8)
class IOV(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = IOV(ctypes.cast(buf, ctypes.c_void_p), 8)
remote = IOV(0x400000, 8)
out("process_vm_readv", sc(310, 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
out("process_vm_writev", sc(311, 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = {
    pidfd_open: "ok",
    pidfd_getfd: "EPERM",
    process_vm_readv: "EPERM",
    process_vm_writev: "EPERM",
  };
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
});

Deno.test({
  name: "escape: setns into nsbox-init's namespaces is refused: /proc/1/ns/* gives EACCES, nsenter -t 1 fails",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    `
for ns in ("user", "mnt", "pid", "net", "uts", "ipc", "cgroup"):
    out(ns, oserr(os.open, "/proc/1/ns/" + ns, os.O_RDONLY))
`,
    ["--root"],
  );
  assert.deepEqual(r, {
    user: "EACCES",
    mnt: "EACCES",
    pid: "EACCES",
    net: "EACCES",
    uts: "EACCES",
    ipc: "EACCES",
    cgroup: "EACCES",
  });
  if (hasProgram("nsenter")) {
    const s = await sandboxSh("nsenter -t 1 -m -U true", ["--root"]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /cannot open \/proc\/1\/ns\/\w+: Permission denied/);
  }
});

/**
 * PID 1 is normally the static nsbox-init, executed after the setup: its memory then belongs to the sandbox's user
 * namespace, where CAP_SYS_PTRACE would open it to the command (the copy of nsbox that --root gets belongs to the
 * host's). So a command that holds CAP_SYS_PTRACE without --root gets the copy too, and a --root command without it
 * the executed init: either way PID 1 refuses it.
 */
Deno.test({
  name: "escape: PID 1 refuses ptrace, /proc/1 and pidfd_getfd to --cap-add SYS_PTRACE and to --root without it",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
ctypes.set_errno(0)
out("seize", "ok" if libc.ptrace(0x4206, 1, None, None) == 0 else ename(ctypes.get_errno()))
out("readlink exe", oserr(os.readlink, "/proc/1/exe"))
out("read maps", oserr(lambda f: open(f, "rb").read(1), "/proc/1/maps"))
out("open ns/user", oserr(os.open, "/proc/1/ns/user", os.O_RDONLY))
pidfd = libc.syscall(ctypes.c_long(434), ctypes.c_long(1), ctypes.c_long(0))
out("pidfd_getfd", " ".join(sorted(set(sc(438, pidfd, fd, 0) for fd in range(0, 64)))))
with open("/proc/self/status") as f:
    out("CapEff", [l.split()[1] for l in f if l.startswith("CapEff:")][0])
`;
  const expected = {
    seize: "EPERM",
    "readlink exe": "EACCES",
    "read maps": "EACCES",
    "open ns/user": "EACCES",
    pidfd_getfd: "EPERM",
  };
  const [capAdd, rootNoPtrace] = await Promise.all([
    attack(script, ["--cap-add", "SYS_PTRACE"]),
    attack(script, ["--root", "--cap-drop", "SYS_PTRACE"]),
  ]);
  const CAP_SYS_PTRACE = 1n << 19n;
  assert.notEqual(BigInt(`0x${capAdd.CapEff}`) & CAP_SYS_PTRACE, 0n, "--cap-add SYS_PTRACE did not give it");
  assert.equal(BigInt(`0x${rootNoPtrace.CapEff}`) & CAP_SYS_PTRACE, 0n);
  assert.notEqual(BigInt(`0x${rootNoPtrace.CapEff}`), 0n, "--root without SYS_PTRACE kept no capability");
  const { CapEff: _a, ...a } = capAdd, { CapEff: _b, ...b } = rootNoPtrace;
  assert.deepEqual(a, expected, "--cap-add SYS_PTRACE");
  assert.deepEqual(b, expected, "--root --cap-drop SYS_PTRACE");
});

Deno.test({
  name: "escape: setns into a host process's namespaces: /proc/PID/ns is not there (ENOENT)",
  ignore: NEEDS_PY_X86,
}, async () => {
  await using host = hostProcess();
  const r = await attack(
    `
for ns in ("user", "mnt", "pid", "net"):
    out(ns, oserr(os.open, "/proc/${host.pid}/ns/" + ns, os.O_RDONLY))
`,
    ["--root"],
  );
  assert.deepEqual(r, { user: "ENOENT", mnt: "ENOENT", pid: "ENOENT", net: "ENOENT" });
});

/** Network namespaces pinned under /run/netns on the host (scripts/test.sh makes one when it runs as root). */
const PINNED_NETNS = (() => {
  try {
    return [...Deno.readDirSync("/run/netns")].map((e) => e.name);
  } catch {
    return [];
  }
})();

Deno.test({
  name: "escape: setns into a host network namespace pinned under /run/netns: hidden (ENOENT), or refused (EPERM)",
  ignore: NEEDS_PY_X86 || PINNED_NETNS.length === 0,
}, async () => {
  const name = PINNED_NETNS[0]!;
  const r = await attack(
    `
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
before = os.readlink("/proc/self/ns/net")
try:
    fd = os.open("/run/netns/${name}", os.O_RDONLY)
    out("open", "ok")
    ctypes.set_errno(0)
    out("setns", "ok" if libc.setns(fd, 0x40000000) == 0 else ename(ctypes.get_errno()))
except OSError as e:
    out("open", ename(e.errno))
out("same", os.readlink("/proc/self/ns/net") == before)
`,
    ["--root"],
  );
  // The sandbox's private /run hides it; were it visible, joining it needs CAP_SYS_ADMIN over the host's.
  if (r.open === "ok") assert.deepEqual(r, { open: "ok", setns: "EPERM", same: "True" });
  else assert.deepEqual(r, { open: "ENOENT", same: "True" });
});

Deno.test({
  name: "escape: SIGKILL and SIGSTOP sent to nsbox-init from inside do nothing (default and --root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
out("kill", oserr(os.kill, 1, 9))
out("stop", oserr(os.kill, 1, 19))
time.sleep(0.2)
out("state", open("/proc/1/stat").read().rsplit(") ", 1)[1].split()[0])
out("alive", "yes")
sys.exit(7)
`;
  const [plain, root] = await Promise.all([sandboxPy(script), sandboxPy(script, ["--root"])]);
  for (const r of [plain, root]) {
    // kill() succeeds (the kernel drops the signal for the namespace's init),
    // PID 1 keeps sleeping, and the sandbox ends with the command's status.
    assert.deepEqual(lines(r.stdout), ["kill: ok", "stop: ok", "state: S", "alive: yes"], r.stderr);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.signal, null);
  }
});

Deno.test({
  name: "escape: a command joined with `nsbox exec` is as confined as the sandbox (caps, no_new_privs, seccomp, locks)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const name = `escape-${crypto.randomUUID().slice(0, 8)}`;
  const started = await nsbox(["run", "--name", name, "--detach", "--", "sleep", "120"]);
  assert.equal(started.code, 0, started.stderr);
  try {
    const script = PY_PRELUDE + PY_MOUNT + `
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
for k in ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp"):
    out(k, status[k].strip())
out("keyctl", sc(250, 0, -3, 1))
out("unshare user", sc(272, 0x10000000))
out("remount /", mount(None, "/", None, MS_REMOUNT | MS_BIND))
out("ppid", os.getppid())
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out("comms", " ".join(open("/proc/%d/comm" % p).read().strip() for p in pids))
`;
    const r = await nsbox(["exec", name, "--", "python3", "-c", script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(results(r), {
      CapEff: "0000000000000000",
      CapBnd: "0000000000000000",
      NoNewPrivs: "1",
      Seccomp: "2",
      keyctl: "EPERM",
      "unshare user": "EPERM",
      "remount /": "EPERM",
      ppid: "0", // its reaper stays outside the sandbox's PID namespace
      comms: "nsbox-init sleep python3",
    });
  } finally {
    await nsbox(["kill", name]);
    await nsbox(["rm", name]);
  }
});
