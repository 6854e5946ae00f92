/**
 * Escape attempts through the caller's terminal: pushing keystrokes into its
 * input queue with TIOCSTI (CVE-2017-5226 and kin: they would be run by the
 * caller's shell once the sandbox ends) and TIOCLINUX. nsbox runs on a new
 * pseudo-terminal (util-linux `script`), as in an interactive session.
 */
import assert from "node:assert/strict";
import { hasProgram, NEEDS_PY_X86, PY_PRELUDE, results, startInPty } from "./_lib.ts";

const IGNORE = NEEDS_PY_X86 || !hasProgram("script");

/** Runs the Python `script` in a sandbox on a terminal; its results, and everything the terminal showed. */
async function onTerminal(script: string, flags: string[] = []): Promise<{ r: Record<string, string>; shown: string }> {
  await using running = startInPty(["run", ...flags, "--", "python3", "-c", PY_PRELUDE + script]);
  const ran = await running.finish();
  const shown = ran.stdout.replaceAll("\r", "");
  assert.equal(ran.code, 0, shown + ran.stderr);
  return { r: results({ ...ran, stdout: shown }), shown };
}

// The character pushed: it must never show up on the terminal (which echoes its input).
const INJECTED = "@";

Deno.test({
  name:
    "escape: TIOCSTI on the controlling terminal (stdin) fails with EPERM; nothing is injected (default and --root)",
  ignore: IGNORE,
}, async () => {
  const script = `
import fcntl, termios
out("isatty", os.isatty(0))
out("TIOCSTI", oserr(fcntl.ioctl, 0, termios.TIOCSTI, b"${INJECTED}"))
`;
  const runs = await Promise.all([onTerminal(script), onTerminal(script, ["--root"])]);
  for (const { r, shown } of runs) {
    assert.deepEqual(r, { isatty: "True", TIOCSTI: "EPERM" }, shown);
    assert.ok(!shown.includes(INJECTED), `the terminal received an injected character:\n${shown}`);
  }
});

Deno.test({
  name: "escape: TIOCSTI with high bits set in the request (0xffffffff00005412, raw ioctl) still fails with EPERM",
  ignore: IGNORE,
}, async () => {
  // The kernel takes the request as 32 bits: a filter comparing 64 would let this through.
  const { r, shown } = await onTerminal(`
c = ctypes.c_char(b"${INJECTED}")
out("TIOCSTI high", sc(16, 0, 0xffffffff00005412, ctypes.byref(c)))
out("TIOCSTI high2", sc(16, 0, 0x0000000100005412, ctypes.byref(c)))
`);
  assert.deepEqual(r, { "TIOCSTI high": "EPERM", "TIOCSTI high2": "EPERM" });
  assert.ok(!shown.includes(INJECTED), `the terminal received an injected character:\n${shown}`);
});

Deno.test({
  name: "escape: TIOCSTI on a fresh descriptor of /dev/tty fails with EPERM",
  ignore: IGNORE,
}, async () => {
  const { r, shown } = await onTerminal(`
import fcntl, termios
fd = os.open("/dev/tty", os.O_RDWR)
out("isatty", os.isatty(fd))
out("TIOCSTI", oserr(fcntl.ioctl, fd, termios.TIOCSTI, b"${INJECTED}"))
`);
  assert.deepEqual(r, { isatty: "True", TIOCSTI: "EPERM" });
  assert.ok(!shown.includes(INJECTED), `the terminal received an injected character:\n${shown}`);
});

Deno.test({
  name: "escape: TIOCLINUX on the terminal fails with EPERM (not ENOTTY: the filter refuses it)",
  ignore: IGNORE,
}, async () => {
  const { r } = await onTerminal(`
import fcntl
out("TIOCLINUX", oserr(fcntl.ioctl, 0, 0x541c, b"\\x06"))  # TIOCL_GETSHIFTSTATE
c = ctypes.c_char(b"\\x06")
out("TIOCLINUX high", sc(16, 0, 0xffffffff0000541c, ctypes.byref(c)))
`);
  assert.deepEqual(r, { TIOCLINUX: "EPERM", "TIOCLINUX high": "EPERM" });
});
