/**
 * The library: mod.ts's run() returns inside the embedding program. It starts
 * the same native supervisor as the CLI, as a child, and reads its result;
 * the program goes on with nothing left behind (no child processes, no
 * descriptors, no record).
 */
import { assert } from "./_assert.ts";
import { embedRuns, hasProgram } from "./_harness.ts";

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
  ]);
  const [exit3, killed, pid1, missing, net, after] = lines as Line[];
  assert.equal(exit3!.ok.exitCode, 3, stderr);
  assert.equal(exit3!.ok.code, 3);
  assert.equal(exit3!.ok.stats.source, "rusage");
  assert.ok(exit3!.ok.wallMs > 0);
  assert.equal(killed!.ok.exitCode, 137);
  assert.equal(killed!.ok.signal, "SIGKILL");
  assert.equal(pid1!.ok.exitCode, 5);
  assert.equal(missing!.exitCode, 127);
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
