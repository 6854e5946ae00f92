/**
 * Escape attempts under `--seccomp FILE` with a container engine's profile
 * (tests/security/fixtures/container-default.json, shaped like podman's
 * default): such a profile assumes the engine gave the container its own pty
 * and its own session keyring, so it allows TIOCSTI, keyctl and new user
 * namespaces. nsbox installs its own rules first and the profile on top; the
 * kernel keeps the stricter answer, so these stay refused. Only
 * `--seccomp=unconfined` drops nsbox's rules.
 */
import assert from "node:assert/strict";
import { attack, hasProgram, NEEDS_PY_X86 } from "./_lib.ts";
import { onTerminal } from "./_terminal.ts";

const PROFILE = new URL("./fixtures/container-default.json", import.meta.url).pathname;
const WITH_PROFILE = ["--seccomp", PROFILE];
const IGNORE_PTY = NEEDS_PY_X86 || !hasProgram("script");

// The character pushed: it must never show up on the terminal (which echoes its input).
const INJECTED = "@";

Deno.test({
  name: "escape: TIOCSTI under --seccomp FILE (a profile that allows it) fails with EPERM; nothing is injected",
  ignore: IGNORE_PTY,
}, async () => {
  const script = `
import fcntl, termios
out("isatty", os.isatty(0))
out("TIOCSTI", oserr(fcntl.ioctl, 0, termios.TIOCSTI, b"${INJECTED}"))
c = ctypes.c_char(b"${INJECTED}")
out("TIOCSTI high", sc(16, 0, 0xffffffff00005412, ctypes.byref(c)))
out("TIOCLINUX", oserr(fcntl.ioctl, 0, 0x541c, b"\\x06"))
out("TIOCSETD", sc(16, 0, 0x5423, ctypes.byref(ctypes.c_int(0))))
out("TIOCEXCL", sc(16, 0, 0x540c, 0))
`;
  const runs = await Promise.all([onTerminal(script, WITH_PROFILE), onTerminal(script, [...WITH_PROFILE, "--root"])]);
  for (const { r, shown } of runs) {
    assert.deepEqual(r, {
      isatty: "True",
      TIOCSTI: "EPERM",
      "TIOCSTI high": "EPERM",
      TIOCLINUX: "EPERM",
      TIOCSETD: "EPERM",
      TIOCEXCL: "EPERM",
    }, shown);
    assert.ok(!shown.includes(INJECTED), `the terminal received an injected character:\n${shown}`);
  }
});

Deno.test({
  name:
    "escape: keyctl(KEYCTL_GET_KEYRING_ID, session keyring), add_key, request_key under --seccomp FILE fail with EPERM",
  ignore: NEEDS_PY_X86,
}, async () => {
  // The caller's session keyring (KEY_SPEC_SESSION_KEYRING = -3) is not
  // namespaced: a profile written for an engine that gives each container a
  // keyring of its own lets the sandbox read and fill the caller's.
  const script = `
out("keyctl", sc(250, 0, -3, 1))
out("add_key", sc(248, b"user", b"nsbox-escape", b"x", 1, -3))
out("request_key", sc(249, b"user", b"nsbox-escape", None, 0))
`;
  const runs = await Promise.all([attack(script, WITH_PROFILE), attack(script, [...WITH_PROFILE, "--root"])]);
  for (const r of runs) assert.deepEqual(r, { keyctl: "EPERM", add_key: "EPERM", request_key: "EPERM" });
});

/** unshare(CLONE_NEWUSER), clone(CLONE_NEWUSER) and clone3(CLONE_NEWUSER), each "ok" or its errno. */
const NEW_USERNS = `
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
def forked(r):
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
        return "ok"
    return ename(ctypes.get_errno())
class CloneArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                "stack", "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]
ctypes.set_errno(0)
out("clone", forked(libc.syscall(ctypes.c_long(56), ctypes.c_ulong(CLONE_NEWUSER | SIGCHLD), None, None, None, None)))
ctypes.set_errno(0)
args = CloneArgs(flags=CLONE_NEWUSER, exit_signal=SIGCHLD)
out("clone3", forked(libc.syscall(ctypes.c_long(435), ctypes.byref(args), ctypes.c_ulong(88))))
out("unshare", sc(272, CLONE_NEWUSER))
`;

Deno.test({
  name: "escape: a nested user namespace under --seccomp FILE is refused: clone, unshare EPERM, clone3 ENOSYS",
  ignore: NEEDS_PY_X86,
}, async () => {
  const runs = await Promise.all([attack(NEW_USERNS, WITH_PROFILE), attack(NEW_USERNS, [...WITH_PROFILE, "--root"])]);
  for (const r of runs) assert.deepEqual(r, { clone: "EPERM", clone3: "ENOSYS", unshare: "EPERM" });
});

Deno.test({
  name: "escape (control): --seccomp FILE --allow-userns lets the sandbox create user namespaces",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(NEW_USERNS, [...WITH_PROFILE, "--allow-userns"]);
  assert.deepEqual(r, { clone: "ok", clone3: "ok", unshare: "ok" });
});

Deno.test({
  name: "escape (control): --seccomp=unconfined drops every filter, nsbox's own rules included (Seccomp: 0)",
  ignore: IGNORE_PTY,
}, async () => {
  // TIOCSTI then reaches the kernel: nothing answers EPERM. (The character
  // pushed lands in the test's own pty, which nobody reads.)
  const { r } = await onTerminal(
    `
import fcntl, termios
out("Seccomp", [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0])
out("TIOCSTI", oserr(fcntl.ioctl, 0, termios.TIOCSTI, b" "))
`,
    ["--seccomp=unconfined"],
  );
  assert.equal(r.Seccomp, "0");
  assert.notEqual(r.TIOCSTI, "EPERM");
});
