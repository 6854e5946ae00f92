/**
 * What a sandbox leaves behind on the host:
 * - processes: with `--share pid` there is no PID namespace to die with PID 1,
 *   so a command that double-forks into a new session and ignores signals
 *   must still be killed when the sandbox ends;
 * - disk: a detached sandbox's log is held to `--log-size` (default 10M),
 *   the newest output kept.
 */
import assert from "node:assert/strict";
import { exists, hasProgram, nsbox, pidsMatching, storeRoot, waitUntil } from "./_lib.ts";

function marker(): string {
  return `nsbox-leftover-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/**
 * Runs `--share pid` + `flags` with a command that leaves a process running
 * `inner` (a shell that ignores TERM, HUP and INT) in a session of its own;
 * asserts nothing carrying the marker outlives nsbox.
 */
async function leaves(flags: string[], wrap = (inner: string) => `setsid sh -c '${inner}'`) {
  const mark = marker();
  const inner = `trap "" TERM HUP INT; while :; do sleep 1; done # ${mark}`;
  const script = `(trap "" TERM HUP INT; ${wrap(inner)}) </dev/null >/dev/null 2>&1 & sleep 0.3; exit 0`;
  try {
    const r = await nsbox(["run", "--share", "pid", ...flags, "--", "sh", "-c", script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pidsMatching(mark), [], "a process the sandbox started outlived nsbox");
  } finally {
    for (const pid of pidsMatching(mark)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
}

Deno.test("escape: --share pid --as-pid-1: a double-forked, signal-ignoring process does not outlive nsbox", async () => {
  await leaves(["--as-pid-1"]);
});

Deno.test("escape: --share pid (nsbox's PID 1 reaps): a double-forked, signal-ignoring process does not outlive nsbox", async () => {
  await leaves([]);
});

Deno.test("escape: --share pid (nsbox's PID 1 reaps): 2500 leftovers, more than a fixed count of rounds, all die", async () => {
  // nsbox-init kills and reaps what is left one child per round; none may be left over when it gives up
  const mark = `sleep 1000.${Deno.pid}${Math.floor(Math.random() * 1e6)}`;
  const script = `trap "" TERM; i=0; while [ $i -lt 2500 ]; do ${mark} </dev/null >/dev/null 2>&1 & i=$((i+1)); done`;
  try {
    const r = await nsbox(["run", "--share", "pid", "--", "sh", "-c", script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(pidsMatching(mark).length, 0, "processes the sandbox started outlived nsbox");
  } finally {
    for (const pid of pidsMatching(mark)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
});

Deno.test({
  name: "escape: --share pid --as-pid-1 --allow-userns: a leftover in a nested user namespace does not outlive nsbox",
  ignore: !hasProgram("unshare"),
}, async () => {
  await leaves(["--as-pid-1", "--allow-userns"], (inner) => `setsid unshare -U sh -c '${inner}'`);
});

Deno.test("escape: a detached sandbox's log is held to --log-size; the newest output is kept, logs -f reads on", async () => {
  const name = `logcap-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const log = `${storeRoot()}/${name}/log`;
  // ~190K of numbered lines, 3 times the cap, after logs -f has started
  const script = "sleep 1; seq 1 30000 | sed 's/^/line /'; echo LAST";
  const r = await nsbox(["run", "-d", "--name", name, "--log-size", "64K", "--", "sh", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  try {
    const follow = await nsbox(["logs", "-f", name]); // until the sandbox ends
    assert.equal(follow.code, 0, follow.stderr);
    await waitUntil(() => exists(`${storeRoot()}/${name}/exit.json`), "the sandbox's end");
    const kept = Deno.readTextFileSync(log);
    assert.ok(kept.length <= 64 * 1024, `the log is ${kept.length} bytes, over its 64K cap`);
    assert.ok(kept.length >= 16 * 1024, `the log kept only ${kept.length} bytes`);
    assert.ok(kept.endsWith("line 30000\nLAST\n"), "the log does not end with the newest output");
    // what is kept is whole lines, in order, up to the end
    const numbers = kept.split("\n").slice(0, -2).map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
    assert.ok(numbers.every((n, i) => n === 30000 - numbers.length + 1 + i), "the kept lines are not the newest ones");
    // logs -f read on across the rotations: in order, no line twice, ending with the newest
    const seen = follow.stdout.split("\n").filter((l) => l.startsWith("line ")).map((l) => Number(l.slice(5)));
    assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), "logs -f printed lines twice or out of order");
    assert.ok(follow.stdout.endsWith("line 30000\nLAST\n"), "logs -f did not end with the newest output");
    const plain = await nsbox(["logs", name]);
    assert.equal(plain.stdout, kept);
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
});

Deno.test("escape: a detached sandbox's log is held to 10M by default", async () => {
  const name = `logdef-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const dir = `${storeRoot()}/${name}`;
  const r = await nsbox([
    "run",
    "-d",
    "--name",
    name,
    "--",
    "sh",
    "-c",
    "yes 0123456789abcdef | head -n 800000; echo LAST",
  ]);
  assert.equal(r.code, 0, r.stderr);
  try {
    await waitUntil(() => exists(`${dir}/exit.json`), "the sandbox's end", 60_000);
    const size = Deno.statSync(`${dir}/log`).size;
    assert.ok(size <= 10 * 1024 * 1024, `the log is ${size} bytes, over the default 10M cap`);
    const file = Deno.openSync(`${dir}/log`);
    const tail = new Uint8Array(22);
    file.seekSync(-22, Deno.SeekMode.End);
    file.readSync(tail);
    file.close();
    assert.equal(new TextDecoder().decode(tail), "0123456789abcdef\nLAST\n");
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
});

Deno.test("escape: --log-size without --detach, or not a size, is refused with one line (125)", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["run", "--log-size", "64K", "--", "true"], /^nsbox: --log-size: only with --detach/],
    [["run", "-d", "--log-size", "x", "--", "true"], /^nsbox: --log-size: expected a size .*got 'x'\.$/],
    [["run", "-d", "--log-size=100", "--", "true"], /^nsbox: --log-size: expected a size .*got '100'\.$/],
  ];
  for (const [args, expected] of cases) {
    const r = await nsbox(args);
    assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr.trim(), expected);
  }
});
