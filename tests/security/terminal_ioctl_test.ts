/**
 * Escape attempts that leave the caller's terminal dead after the sandbox
 * ends: a new line discipline (TIOCSETD) or exclusive mode (TIOCEXCL) set on
 * the terminal the sandbox inherited. nsbox's filter refuses both, comparing
 * the request on its low 32 bits as the kernel reads it; TIOCSCTTY stays
 * allowed, for the ptys a sandbox opens itself.
 */
import assert from "node:assert/strict";
import { attack, hasProgram, NEEDS_PY_X86 } from "./_lib.ts";
import { onTerminal } from "./_terminal.ts";

const IGNORE = NEEDS_PY_X86 || !hasProgram("script");

Deno.test({
  name:
    "escape: TIOCSETD (line discipline) on the inherited terminal fails with EPERM, high bits too (default and --root)",
  ignore: IGNORE,
}, async () => {
  // N_TTY (0), the discipline the terminal already has: the kernel takes it
  // as a no-op (so without the filter this answers "ok" and the test's pty
  // survives); another one (N_NULL, N_HDLC...) would leave the terminal dead.
  const script = `
import fcntl, struct
TIOCSETD, TIOCGETD = 0x5423, 0x5424
out("isatty", os.isatty(0))
out("TIOCSETD", oserr(fcntl.ioctl, 0, TIOCSETD, struct.pack("i", 0)))
d = ctypes.c_int(0)
out("TIOCSETD high", sc(16, 0, 0xffffffff00005423, ctypes.byref(d)))
out("TIOCSETD high2", sc(16, 0, 0x0000000100005423, ctypes.byref(d)))
out("TIOCGETD", struct.unpack("i", fcntl.ioctl(0, TIOCGETD, struct.pack("i", -1)))[0])
`;
  const runs = await Promise.all([onTerminal(script), onTerminal(script, ["--root"])]);
  for (const { r, shown } of runs) {
    assert.deepEqual(r, {
      isatty: "True",
      TIOCSETD: "EPERM",
      "TIOCSETD high": "EPERM",
      "TIOCSETD high2": "EPERM",
      TIOCGETD: "0",
    }, shown);
  }
});

Deno.test({
  name:
    "escape: TIOCEXCL on the inherited terminal fails with EPERM, high bits too; /dev/tty still opens (default and --root)",
  ignore: IGNORE,
}, async () => {
  // Without the filter TIOCEXCL succeeds and every later open of the terminal
  // fails with EBUSY (unless CAP_SYS_ADMIN in the initial namespace), the
  // caller's own programs included, after the sandbox has ended.
  const script = `
import fcntl
TIOCEXCL = 0x540c
out("TIOCEXCL", oserr(fcntl.ioctl, 0, TIOCEXCL))
out("TIOCEXCL high", sc(16, 0, 0xffffffff0000540c, 0))
out("TIOCEXCL high2", sc(16, 0, 0x000000010000540c, 0))
out("reopen", oserr(lambda: os.close(os.open("/dev/tty", os.O_RDWR))))
`;
  const runs = await Promise.all([onTerminal(script), onTerminal(script, ["--root"])]);
  for (const { r, shown } of runs) {
    assert.deepEqual(
      r,
      { TIOCEXCL: "EPERM", "TIOCEXCL high": "EPERM", "TIOCEXCL high2": "EPERM", reopen: "ok" },
      shown,
    );
  }
});

Deno.test({
  name: "escape (control): TIOCSCTTY on a pty the sandbox opens itself still works (default and --root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  // What a terminal multiplexer or `script` inside the sandbox does: a new
  // session takes the pty it opened as its controlling terminal.
  const script = `
import fcntl, termios
m, s = os.openpty()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()
    res = oserr(fcntl.ioctl, s, termios.TIOCSCTTY, 0)
    tty = oserr(lambda: os.close(os.open("/dev/tty", os.O_RDWR)))
    try:
        fg = os.tcgetpgrp(s) == os.getpid()
    except OSError as e:
        fg = ename(e.errno)
    os.write(w, ("%s %s %s" % (res, tty, fg)).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
res, tty, fg = os.read(r, 100).decode().split()
out("TIOCSCTTY", res)
out("/dev/tty", tty)
out("foreground", fg)
`;
  const runs = await Promise.all([attack(script), attack(script, ["--root"])]);
  for (const r of runs) assert.deepEqual(r, { TIOCSCTTY: "ok", "/dev/tty": "ok", foreground: "True" });
});
