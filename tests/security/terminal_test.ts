/**
 * Escape attempts through the caller's terminal: pushing keystrokes into its
 * input queue with TIOCSTI (CVE-2017-5226 and kin: they would be run by the
 * caller's shell once the sandbox ends) and TIOCLINUX. nsbox runs on a new
 * pseudo-terminal (util-linux `script`), as in an interactive session.
 */
import assert from "node:assert/strict";
import {
  HAS_PYTHON,
  hasProgram,
  NEEDS_PY_X86,
  nsboxCommand,
  PY_PRELUDE,
  results,
  shellQuote,
  startInPty,
  startLineInPty,
  tempDir,
  waitUntil,
} from "./_lib.ts";

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

/** How often `needle` occurs in `text`. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** `nsbox ARGS...` as a shell command line. */
function nsboxLine(args: readonly string[]): string {
  const [cmd, full] = nsboxCommand(args);
  return [cmd, ...full].map(shellQuote).join(" ");
}

// A command that reports Ctrl-C (exiting 7 at the second), and "in-fg" each
// time it finds its own process group in the terminal's foreground (after
// each SIGCONT): /proc/$$/stat fields 5 and 8, pgrp and tpgid, as seen in the
// sandbox (0 for a group outside it, such as nsbox's). Markers are
// written split by '' so the terminal's echo of the typed line never matches.
const JOB = `trap 'n=$((n+1)); echo got-INT-$n; [ $n -ge 2 ] && exit 7' INT; trap 'was=' CONT; echo re''ady; ` +
  `while :; do set -- $(cat /proc/$$/stat); ` +
  `if [ -n "$5" ] && [ "$5" != 0 ] && [ "$5" = "$8" ]; then [ -z "$was" ] && echo in-f''g; was=1; else was=; fi; sleep 0.1; done`;

const SHELLS: Array<[string, string]> = [["sh", "sh -i"], ["bash", "bash --norc --noprofile -i"]];

for (const [name, shell] of SHELLS) {
  Deno.test({
    name: `escape: nsbox started with & in an interactive ${name} and brought back with fg: Ctrl-C reaches the ` +
      "command, Ctrl-Z stops it as the shell's job, fg continues it",
    ignore: !hasProgram("script") || !hasProgram(name),
  }, async () => {
    await using pty = startLineInPty(`exec ${shell}`);
    const out = () => pty.stdout().replaceAll("\r", "");
    const waitFor = (needle: string, n = 1) =>
      waitUntil(() => count(out(), needle) >= n, `${n} × ${JSON.stringify(needle)} in:\n${out()}`, 20_000);
    await pty.write("PS1='out''er$ '\n");
    await waitFor("outer$ ");
    await pty.write(nsboxLine(["run", "--", "sh", "-c", JOB]) + " &\n");
    await waitFor("ready");
    await pty.write("fg\n");
    await waitFor("in-fg");
    await pty.write("\x03");
    await waitFor("got-INT-1");
    let prompts = count(out(), "outer$ ");
    await pty.write("\x1a");
    await waitFor("Stopped");
    await waitFor("outer$ ", prompts + 1);
    await pty.write("echo out''er-alive\n");
    await waitFor("outer-alive");
    await pty.write("fg\n");
    await waitFor("in-fg", 2);
    prompts = count(out(), "outer$ ");
    await pty.write("\x03");
    await waitFor("got-INT-2");
    await waitFor("outer$ ", prompts + 1);
    await pty.write("echo stat''us=$?\n");
    await waitFor("status=7");
    await pty.write("exit\n");
    await pty.finish(20_000);
    assert.deepEqual(out().match(/got-INT-\d/g), ["got-INT-1", "got-INT-2"], out());
  });
}

// In the sandbox (seccomp unconfined: the default filter refuses these
// ioctls): exclusive mode, no echo and no canonical mode, the null line
// discipline (when the kernel has it), on the caller's terminal.
const WRECK = `
import fcntl, struct, termios
fcntl.ioctl(0, termios.TIOCEXCL)
a = termios.tcgetattr(0)
a[3] &= ~(termios.ECHO | termios.ICANON)
termios.tcsetattr(0, termios.TCSANOW, a)
try:
    fcntl.ioctl(0, 0x5423, struct.pack("i", 27))  # TIOCSETD N_NULL
except OSError:
    pass
`;

Deno.test({
  name: "escape: a sandbox that leaves the terminal exclusive (TIOCEXCL), raw and with another line discipline " +
    "(TIOCSETD): nsbox restores it at exit",
  ignore: !hasProgram("script") || !HAS_PYTHON,
}, async () => {
  await using dir = await tempDir();
  const report = `${dir.path}/report`;
  const ldisc = `python3 -c 'import fcntl, struct; print(struct.unpack("i", fcntl.ioctl(0, 0x5424, bytes(4)))[0])'`;
  const line = [
    `exec >"$R" 2>&1`, // the terminal is the subject, not where results go
    `t=$(tty)`,
    `echo before-ldisc=$(${ldisc})`,
    `before=$(stty -g)`,
    `${nsboxLine(["run", "--seccomp=unconfined", "--", "python3", "-c", WRECK])}`,
    `echo nsbox-exit=$?`,
    `echo after-ldisc=$(${ldisc})`,
    `[ "$before" = "$(stty -g)" ] && echo termios=same || echo "termios=changed $before $(stty -g)"`,
    `if (exec 3<>"$t") 2>/dev/null; then echo reopen=ok; else echo reopen=busy; fi`,
  ].join("; ");
  await using pty = startLineInPty(line, { R: report });
  const r = await pty.finish(30_000);
  const got = await Deno.readTextFile(report);
  assert.equal(r.code, 0, got + r.stdout);
  assert.match(got, /^nsbox-exit=0$/m, got);
  assert.match(got, /^termios=same$/m, got);
  assert.match(got, /^reopen=ok$/m, got);
  assert.equal(/^after-ldisc=(\d+)$/m.exec(got)?.[1], /^before-ldisc=(\d+)$/m.exec(got)?.[1], got);
});
