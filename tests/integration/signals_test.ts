/**
 * `nsbox run` signals: forwarding to the command (once), exit status of a
 * command killed by a signal, a clean signal state for the command, and
 * terminal behaviour (isatty, Ctrl-C) on a pseudo-terminal.
 */
import { assert } from "./_assert.ts";
import { commOf, hasProgram, lines, pidsMatching, probe, startInPty, startNsbox, waitUntil } from "./_harness.ts";

/** The parent of process `pid`, or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

const FORWARDED = ["HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "WINCH"] as const;

/** A shell that counts SIG, reports each, and exits 3 a moment after the first. */
function trapScript(sig: string): string {
  return `trap 'n=$((n+1)); echo got ${sig} $n' ${sig}; echo ready; ` +
    `while [ -z "$n" ]; do sleep 0.05; done; sleep 0.3; exit 3`;
}

for (const flags of [[], ["--as-pid-1"]]) {
  const mode = flags.length ? " (--as-pid-1)" : "";
  Deno.test(`run: ${FORWARDED.map((s) => `SIG${s}`).join(", ")} sent to nsbox reach the command once${mode}`, async () => {
    await Promise.all(FORWARDED.map(async (sig) => {
      await using running = startNsbox(["run", ...flags, "--", "sh", "-c", trapScript(sig)]);
      await running.waitForStdout("ready\n");
      running.kill(`SIG${sig}`);
      const r = await running.finish();
      assert.equal(r.stdout, `ready\ngot ${sig} 1\n`, `SIG${sig}${mode}; stderr: ${r.stderr}`);
      assert.equal(r.code, 3, `SIG${sig}${mode}; stderr: ${r.stderr}`);
      assert.equal(r.signal, null);
    }));
  });
}

Deno.test("run: SIGTERM to nsbox kills a command that does not handle it: nsbox exits 143", async () => {
  await using running = startNsbox(["run", "--", "sh", "-c", "echo ready; while :; do sleep 0.05; done"]);
  await running.waitForStdout("ready\n");
  running.kill("SIGTERM");
  const r = await running.finish();
  assert.equal(r.code, 143, r.stderr);
  assert.equal(r.signal, null, "nsbox itself must exit, not die of the signal");
});

Deno.test("run: the command starts with no signal blocked or ignored", async () => {
  const [plain, pid1] = await Promise.all([probe(), probe(["--as-pid-1"])]);
  for (const [p, mode] of [[plain, "default"], [pid1, "--as-pid-1"]] as const) {
    assert.equal(p.sig_blk, "0000000000000000", `${mode}: SigBlk`);
    // nsbox resets every disposition before exec: none of its own (Deno ignores SIGPIPE) or its caller's survive
    assert.equal(p.sig_ign, "0000000000000000", `${mode}: SigIgn (bit N-1 set = signal N ignored)`);
  }
});

const HAS_SCRIPT = hasProgram("script");

Deno.test({
  name: "run: on a terminal the command's stdin and stdout are the terminal",
  ignore: !HAS_SCRIPT,
}, async () => {
  await using running = startInPty([
    "run",
    "--",
    "sh",
    "-c",
    "test -t 0 && echo in-isatty; test -t 1 && echo out-isatty",
  ]);
  const r = await running.finish();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(lines(r.stdout.replaceAll("\r", "")), ["in-isatty", "out-isatty"]);
});

Deno.test({
  name: "run: Ctrl-C on the terminal reaches the command exactly once",
  ignore: !HAS_SCRIPT,
}, async () => {
  await using running = startInPty(["run", "--", "sh", "-c", trapScript("INT")]);
  await running.waitForStdout("ready");
  await running.write("\x03");
  const r = await running.finish();
  const out = r.stdout.replaceAll("\r", "");
  assert.equal((out.match(/got INT/g) ?? []).length, 1, out);
  assert.match(out, /got INT 1\n/);
  assert.equal(r.code, 3, out);
});

Deno.test({
  name: "run: on a terminal, SIGTERM and SIGUSR1 sent to nsbox (not by the terminal) reach the command once",
  ignore: !HAS_SCRIPT,
}, async () => {
  await Promise.all(["TERM", "USR1"].map(async (sig) => {
    const mark = `nsbox-mark-${sig}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
    await using running = startInPty(["run", "--", "sh", "-c", `: ${mark}; ${trapScript(sig)}`]);
    await running.waitForStdout("ready");
    // nsbox (its native supervisor by now) is the parent of the sandbox's PID 1, the parent of the command
    let nsboxPid = 0;
    await waitUntil(() => {
      const command = pidsMatching(mark).find((pid) => commOf(pid) === "sh");
      const pid1 = command === undefined ? null : parentOf(command);
      nsboxPid = pid1 === null || commOf(pid1) !== "nsbox-init" ? 0 : parentOf(pid1) ?? 0;
      return nsboxPid !== 0 && commOf(nsboxPid) === "nsbox";
    }, "the nsbox process");
    Deno.kill(nsboxPid, `SIG${sig}` as Deno.Signal);
    const r = await running.finish();
    const out = r.stdout.replaceAll("\r", "");
    assert.equal((out.match(new RegExp(`got ${sig}`, "g")) ?? []).length, 1, out);
    assert.equal(r.code, 3, out);
  }));
});

Deno.test({
  name: "run: Ctrl-C on the terminal interrupts a command: nsbox exits 130",
  ignore: !HAS_SCRIPT,
}, async () => {
  await using running = startInPty(["run", "--", "sh", "-c", "echo ready; sleep 100; echo not-interrupted"]);
  await running.waitForStdout("ready");
  const sent = Date.now();
  await running.write("\x03");
  const r = await running.finish(20_000);
  assert.equal(r.code, 130, r.stdout);
  assert.doesNotMatch(r.stdout, /not-interrupted/);
  assert.ok(Date.now() - sent < 10_000);
});

Deno.test({
  name: "run: Ctrl-C in an interactive sh interrupts its foreground job, not the shell",
  ignore: !HAS_SCRIPT,
}, async () => {
  await using running = startInPty(["run", "--setenv", "PS1=nsbox-prompt$ ", "--", "sh", "-i"]);
  await running.waitForStdout("nsbox-prompt$ ");
  await running.write("echo sle''eping; sleep 100; echo after-sle''ep\n");
  await running.waitForStdout("sleeping");
  await new Promise((r) => setTimeout(r, 200)); // let sleep start
  await running.write("\x03");
  await running.write("echo ali''ve\n");
  await running.waitForStdout("alive");
  await running.write("exit\n");
  const r = await running.finish(20_000);
  assert.doesNotMatch(r.stdout, /after-sleep/);
});

Deno.test({
  name: "run: an interactive sh's exit status passes through on a terminal",
  ignore: !HAS_SCRIPT,
}, async () => {
  await using running = startInPty(["run", "--setenv", "PS1=nsbox-prompt$ ", "--", "sh", "-i"]);
  await running.waitForStdout("nsbox-prompt$ ");
  await running.write("echo ali''ve\n");
  await running.waitForStdout("alive");
  await running.write("exit 5\n");
  const r = await running.finish(20_000);
  assert.doesNotMatch(r.stdout, /Cannot set tty process group/);
  assert.equal(r.code, 5, r.stdout);
});
