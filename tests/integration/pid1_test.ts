/**
 * `nsbox run` process tree: nsbox-init as PID 1 (or the command with
 * `--as-pid-1`), reaping orphans, and no process outliving the sandbox.
 */
import { assert } from "./_assert.ts";
import { commOf, lines, nsbox, pidsMatching, probe, sandboxSh, startNsbox, tempDir, waitUntil } from "./_harness.ts";

/** A marker unique to this test run, for `sleep MARKER` processes. */
function marker(): string {
  return `1000.${Deno.pid}${Math.floor(Math.random() * 1e6)}`;
}

/** Pids of live `sleep` processes whose command line contains `mark`. */
function sleepers(mark: string): number[] {
  return pidsMatching(mark).filter((pid) => commOf(pid) === "sleep");
}

Deno.test("run: --as-pid-1 makes the command PID 1", async () => {
  const [r, p] = await Promise.all([sandboxSh("echo $$", ["--as-pid-1"]), probe(["--as-pid-1"])]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "1\n");
  assert.equal(p.pid, 1);
  assert.equal(p.ppid, 0);
});

// The command's own pid is 2 or 3 (a short-lived helper that writes the nested
// user namespace's maps may take 2); what matters is who its parent is.
Deno.test("run: without --as-pid-1 the command runs as a child of nsbox-init (PID 1)", async () => {
  const [r, p] = await Promise.all([
    sandboxSh("echo $$; cat /proc/1/comm; cat /proc/$$/status | grep PPid; ps -e -o pid= | wc -l"),
    probe(),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [pid, comm, ppid, count] = lines(r.stdout);
  assert.ok(Number(pid) > 1, `command pid ${pid}`);
  assert.equal(comm, "nsbox-init");
  assert.match(ppid!, /^PPid:\s+1$/);
  // nsbox-init, the shell, ps, wc (and nothing else)
  assert.equal(count!.trim(), "4", r.stdout);
  assert.ok(Number(p.pid) > 1);
  assert.equal(p.ppid, 1);
});

Deno.test("run: an orphaned zombie gets reaped by nsbox-init", async () => {
  const r = await sandboxSh(`sh -c "sleep 0.2 & exit"; sleep 1; ps -o pid=,stat=,comm= -e`);
  assert.equal(r.code, 0, r.stderr);
  const procs = lines(r.stdout).map((l) => l.trim().split(/\s+/));
  assert.ok(procs.length >= 3, r.stdout);
  for (const [pid, stat, comm] of procs) assert.ok(!stat!.startsWith("Z"), `zombie ${pid} ${comm}: ${r.stdout}`);
});

Deno.test("run: processes left behind when the command exits are killed, and nsbox returns promptly", async () => {
  await Promise.all([[], ["--as-pid-1"]].map(async (flags) => {
    const mark = marker();
    const started = Date.now();
    // the background sleep holds nsbox's stdout open: nsbox() returns only once it is gone
    const r = await nsbox(["run", ...flags, "--", "sh", "-c", `sleep ${mark} & sleep 0.3; exit 7`], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 7, `${flags}: ${r.stderr}`);
    assert.ok(Date.now() - started < 10_000, `${flags}: took ${Date.now() - started} ms`);
    assert.deepEqual(sleepers(mark), [], `${flags}: a sandbox process outlived the sandbox`);
  }));
});

Deno.test("run: SIGKILL of nsbox leaves no sandbox process (with and without --as-pid-1)", async () => {
  await Promise.all([[], ["--as-pid-1"]].map(async (flags) => {
    const mark = marker();
    const running = startNsbox(["run", ...flags, "--", "sleep", mark]);
    try {
      await waitUntil(() => sleepers(mark).length === 1, `sleep ${mark} to start (${flags})`);
      running.kill("SIGKILL");
      const ran = await running.finish(10_000);
      assert.equal(ran.signal, "SIGKILL");
      // the sandbox dies with nsbox (PR_SET_PDEATHSIG): allow the kernel a moment
      await waitUntil(() => pidsMatching(mark).length === 0, `no process with ${mark} left (${flags})`, 5_000);
    } finally {
      for (const pid of pidsMatching(mark)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
  }));
});

Deno.test("run: with --share pid, nsbox-init still adopts and reaps orphans (subreaper)", async () => {
  const r = await sandboxSh(
    `p=$(sh -c 'sleep 0.3 >/dev/null 2>&1 & echo $!'); ps -o ppid= -p $p; echo $PPID; ` +
      `cat /proc/$PPID/comm; sleep 1; ps -o stat= -p $p || echo reaped`,
    ["--share", "pid"],
  );
  assert.equal(r.code, 0, r.stderr);
  const [adopter, init, comm, last] = lines(r.stdout).map((l) => l.trim());
  assert.equal(adopter, init, "the orphan was not adopted by nsbox-init");
  assert.equal(comm, "nsbox-init");
  assert.equal(last, "reaped");
});

/** The sandbox's PID 1 among the children of `supervisor` (its NSpid ends in 1), once it is there. */
async function pid1Of(supervisor: number): Promise<number> {
  let found = 0;
  await waitUntil(() => {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
        if (new RegExp(`^PPid:\\s+${supervisor}$`, "m").test(status) && /^NSpid:.*\s1$/m.test(status)) {
          found = Number(e.name);
          return true;
        }
      } catch {
        // gone meanwhile
      }
    }
    return false;
  }, `PID 1 among the children of ${supervisor}`);
  return found;
}

/** readlink(/proc/PID/exe) from the host, as the sandbox's own user, or the error's code. */
function exeOf(pid: number): string {
  try {
    return Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    return e instanceof Deno.errors.PermissionDenied ? "EACCES" : String(e);
  }
}

/** The files PID 1 maps, as its /proc/PID/maps lists them (read from the host). */
function mappedFiles(pid: number): string[] {
  const files = new Set<string>();
  for (const line of lines(Deno.readTextFileSync(`/proc/${pid}/maps`))) {
    const path = line.trim().split(/\s+/).slice(5).join(" ");
    if (path.startsWith("/")) files.add(path);
  }
  return [...files];
}

// PID 1 is not a copy of nsbox: the static nsbox-init, executed from nsbox's sealed memfd by the child at once (it then
// replays the plan). Checked from the host as the sandbox's own user, who owns the sandbox's user namespaces: PID 1's
// memory belongs to them, so its exe and maps are readable here, and name the memfd and nothing else (no deno, no
// shared library, not even the plan's memfd: the plan is copied into anonymous memory).
Deno.test("run: PID 1 is the static nsbox-init executed from a memfd, mapping no other file", async () => {
  await using sandbox = startNsbox(["run", "--", "sh", "-c", "echo ready; exec sleep 30"]);
  await sandbox.waitForStdout("ready");
  const pid1 = await pid1Of(sandbox.pid);
  assert.equal(commOf(pid1), "nsbox-init");
  assert.equal(exeOf(pid1), "/memfd:nsbox-init (deleted)");
  assert.deepEqual(mappedFiles(pid1), ["/memfd:nsbox-init (deleted)"]);
  assert.match(Deno.readTextFileSync(`/proc/${pid1}/status`), /^Threads:\s+1$/m);
  // and it still does its job: the command's signal becomes nsbox's status
  sandbox.kill("SIGTERM");
  const r = await sandbox.finish();
  assert.equal(r.code, 143, r.stderr);
});

Deno.test("run: PID 1 is nsbox-init also with a seccomp profile refusing execveat, and with --root", async () => {
  // The child execs nsbox-init before any op runs (seccomp included): a profile cannot keep it from doing so.
  await using dir = await tempDir();
  const file = `${dir.path}/profile.json`;
  Deno.writeTextFileSync(
    file,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["execveat"], action: "SCMP_ACT_KILL_PROCESS" }],
    }),
  );
  for (const flags of [["--seccomp", file], ["--root"]]) {
    await using sandbox = startNsbox([
      "run",
      ...flags,
      "--",
      "sh",
      "-c",
      'echo "$(cat /proc/1/comm) $PPID"; trap "exit 7" USR1; echo ready; while :; do sleep 0.05; done',
    ]);
    await sandbox.waitForStdout("ready");
    const pid1 = await pid1Of(sandbox.pid);
    assert.equal(commOf(pid1), "nsbox-init", flags.join(" "));
    assert.equal(exeOf(pid1), "/memfd:nsbox-init (deleted)", flags.join(" "));
    // still forwards signals, reaps, and reports the command's status
    sandbox.kill("SIGUSR1");
    const r = await sandbox.finish();
    assert.equal(r.code, 7, `${flags}: ${r.stderr}`);
    assert.equal(r.stdout, "nsbox-init 1\nready\n", flags.join(" "));
  }
});
