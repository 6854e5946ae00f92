/**
 * The library: mod.ts's run() returns inside the embedding program. It starts
 * the same native supervisor as the CLI, as a child, and reads its result;
 * the program goes on with nothing left behind (no child processes, no
 * descriptors, no record).
 */
import { assert } from "./_assert.ts";
import { embeddingArgs, embedRuns, exists, hasProgram, nsbox, waitUntil } from "./_harness.ts";

/** One line of the program's output: a run's result or error, or what it left at the end. */
interface Line {
  ok: { exitCode: number; code: number | null; signal: string | null; wallMs: number; stats: { source: string } };
  error?: string;
  exitCode?: number;
  children: number[];
  fdsGrew: number;
}

async function embed(cases: readonly Record<string, unknown>[]): Promise<{ lines: unknown[]; stderr: string }> {
  const { code, lines, stderr } = await embedRuns(cases);
  assert.equal(code, 0, stderr);
  return { lines, stderr };
}

Deno.test("library: run() returns each command's result in one program, and leaves no process, descriptor or record", async () => {
  const { lines, stderr } = await embed([
    { command: ["sh", "-c", "exit 3"] },
    { command: ["sh", "-c", "kill -9 $$"] },
    { command: ["sh", "-c", "exit 5"], asPid1: true }, // PID 1's own status: read by the supervisor, reaped by run()
    { command: ["no-such-command-here"] },
    { command: ["true"], net: "pasta" },
    { command: ["true"], chdir: "/nonexistent-dir" }, // a set-up step fails: the supervisor's result says which
  ]);
  const [exit3, killed, pid1, missing, net, setup, after] = lines as Line[];
  assert.equal(exit3!.ok.exitCode, 3, stderr);
  assert.equal(exit3!.ok.code, 3);
  assert.equal(exit3!.ok.stats.source, "rusage");
  assert.ok(exit3!.ok.wallMs > 0);
  assert.equal(killed!.ok.exitCode, 137);
  assert.equal(killed!.ok.signal, "SIGKILL");
  assert.equal(pid1!.ok.exitCode, 5);
  assert.equal(missing!.exitCode, 127);
  assert.equal(missing!.error, "no-such-command-here: command not found");
  assert.deepEqual([setup!.exitCode, setup!.error], [
    125,
    "cannot change directory to /nonexistent-dir: No such file or directory",
  ]);
  assert.ok(net!.ok?.exitCode === 0 || /pasta/.test(net!.error ?? ""), JSON.stringify(net));
  assert.deepEqual(after!.children, [], "child processes left in the embedding program");
  assert.equal(after!.fdsGrew, 0, "descriptors left open in the embedding program");
});

Deno.test({
  name: "library: allowHosts runs the egress proxy; RunResult.egress has its report; nothing is left behind",
  ignore: !hasProgram("curl"),
  fn: async () => {
    const { lines, stderr } = await embed([
      { command: ["true"] },
      {
        command: ["sh", "-c", "curl -s -o /dev/null http://blocked.example/x; exit 4"],
        allowHosts: ["allowed.example"],
      },
    ]);
    const [, filtered, after] = lines as Array<Line & { ok: { egress: unknown } }>;
    assert.equal(filtered!.ok.exitCode, 4, stderr);
    assert.deepEqual(filtered!.ok.egress, {
      allowed: [],
      refused: [{ host: "blocked.example", port: 80, connections: 1, reason: "not allowed by --allow-host" }],
    });
    assert.match(stderr, /^nsbox: blocked blocked\.example:80 \(not allowed by --allow-host\)$/m);
    assert.deepEqual(after!.children, [], "child processes left in the embedding program");
    assert.equal(after!.fdsGrew, 0, "descriptors left open in the embedding program");
  },
});

/** Processes whose command line has `marker`; zombies do not count. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (/\) Z /.test(Deno.readTextFileSync(`/proc/${e.name}/stat`))) continue;
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(marker)) found.push(`${e.name} ${cmd.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The native supervisors (`nsbox-supervise FD`, exec'd from a memfd) whose parent is `parent`. */
function supervisorsOf(parent: number): number[] {
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && Deno.readTextFileSync(`/proc/${e.name}/cmdline`).startsWith("nsbox-supervise")) {
        found.push(Number(e.name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

for (const net of [null, ...(hasProgram("pasta") ? ["pasta"] : [])]) {
  Deno.test(`library: the embedding program killed while run() supervises${net ? " (--net " + net + ")" : ""} leaves nothing`, async () => {
    const runtime = Deno.makeTempDirSync({ prefix: "nsbox-library-rt-" });
    const marker = `nsbox-library-killed-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      const options = { command: ["sh", "-c", `sleep 30 & sleep 30; : ${marker}`], ...(net ? { net } : {}) };
      const program = new Deno.Command(Deno.execPath(), {
        args: embeddingArgs("library_killed.ts", options),
        env: { XDG_RUNTIME_DIR: runtime },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let supervisors: number[] = [];
      await waitUntil(() => processesWith(marker).length > 0, "the sandbox's command runs", 15_000);
      await waitUntil(() => (supervisors = supervisorsOf(program.pid)).length === 1, "its supervisor runs", 5000);
      program.kill("SIGKILL");
      await program.status;
      await waitUntil(() => processesWith(marker).length === 0, "nothing of the sandbox left", 5000).catch((e) => {
        throw new Error(`${e.message}: ${processesWith(marker).join("; ")}`);
      });
      await waitUntil(() => supervisors.every((p) => !exists(`/proc/${p}`)), "the supervisor ended", 5000);
      // pasta's command line names its files in the record's directory, under this test's runtime directory
      await waitUntil(() => processesWith(runtime).length === 0, "no network helper left", 5000).catch((e) => {
        throw new Error(`${e.message}: ${processesWith(runtime).join("; ")}`);
      });
      // The supervisor dies with the program (it cannot report to it): at most a record is left, which the next
      // nsbox command finds stale and removes.
      const store = `${runtime}/nsbox`;
      const records = () =>
        exists(store) ? [...Deno.readDirSync(store)].map((e) => e.name).filter((n) => n !== ".key") : [];
      assert.ok(records().length <= 1, `at most one record left: ${records()}`);
      const ps = await nsbox(["ps"], { env: { XDG_RUNTIME_DIR: runtime } });
      assert.equal(ps.code, 0, ps.stderr);
      assert.deepEqual(records(), [], "nsbox ps removed the stale record");
    } finally {
      Deno.removeSync(runtime, { recursive: true });
    }
  });
}
