// A network helper that ends while the sandbox runs (killed from outside, crashed): the sandbox goes on without
// it, and nsbox says so once, in one line (the native supervisor watches the helpers' pidfds; the words are
// src/net's templates). At the end nothing is left.
import { assert } from "./_assert.ts";
import {
  commOf,
  hasProgram,
  nsbox,
  privateRuntime,
  processesTagged,
  startNsbox,
  userProcesses,
  waitUntil,
} from "./_harness.ts";

/** Runs `sh -c SCRIPT` in a sandbox with `flags`, kills its helper named `comm` once `ready` is printed. */
async function killHelper(flags: readonly string[], comm: (name: string, cmd: string) => boolean, script: string) {
  using rt = privateRuntime("nsbox-helper-ended");
  const tag = `NSBOX_HELPER_ENDED_TEST=${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const [name, value] = tag.split("=") as [string, string];
  await using run = startNsbox(["run", ...flags, "--", "sh", "-c", script], { env: { ...rt.env, [name]: value } });
  await run.waitForStdout("ready", 30_000);
  // pasta goes into the background (not nsbox's child then) and cannot be read: its command line names its file
  // in the record's directory, under this test's runtime directory; the others carry the tag
  const ours = () => [
    ...processesTagged(tag),
    ...userProcesses().filter((p) => p.cmd.includes(rt.runtime)),
  ];
  const helper = () =>
    [...new Map(ours().map((p) => [p.pid, p])).values()].filter((p) => comm(commOf(p.pid) ?? "", p.cmd));
  await waitUntil(() => helper().length === 1, "the helper runs", 10_000);
  const [victim] = helper();
  Deno.kill(victim!.pid, "SIGKILL");
  const r = await run.finish(30_000);
  await waitUntil(() => ours().length === 0, "nothing of the run left", 5000);
  return r;
}

Deno.test({
  name: "helper ended: pasta killed while the sandbox runs: one line, the sandbox goes on without network",
  ignore: !hasProgram("pasta"),
  fn: async () => {
    // pasta runs as passt(.avx2) with a command line that names pasta
    const r = await killHelper(
      ["--net=pasta"],
      (comm, cmd) => /^pasta|^passt/.test(comm) || /\bpasta\b/.test(cmd.split(" ")[0] ?? ""),
      "echo ready; sleep 2; echo still here",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^still here$/m);
    assert.deepEqual(
      r.stderr.split("\n").filter((l) => l.includes("ended while the sandbox runs")),
      ["nsbox: pasta ended while the sandbox runs: the sandbox has no network from now on"],
    );
  },
});

Deno.test({
  name: "helper ended: slirp4netns killed while the sandbox runs: one line, the sandbox goes on",
  ignore: !hasProgram("slirp4netns"),
  fn: async () => {
    const r = await killHelper(
      ["--net=slirp4netns"],
      (comm) => comm === "slirp4netns",
      "echo ready; sleep 2; echo still here",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^still here$/m);
    assert.match(
      r.stderr,
      /^nsbox: slirp4netns ended while the sandbox runs: the sandbox has no network from now on$/m,
    );
  },
});

Deno.test("helper ended: the egress proxy killed while the sandbox runs: one line, the sandbox goes on", async () => {
  const r = await killHelper(
    ["--allow-host", "example.com"],
    (_comm, cmd) => cmd.includes("__egress-proxy"),
    "echo ready; sleep 2; echo still here",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^still here$/m);
  assert.match(
    r.stderr,
    /^nsbox: the egress proxy ended while the sandbox runs: connections out fail from now on$/m,
  );
});

Deno.test({
  name: "helper ended: a helper that ends with the sandbox is not reported",
  ignore: !hasProgram("pasta"),
  fn: async () => {
    using rt = privateRuntime("nsbox-helper-ended");
    const r = await nsbox(["run", "--net=pasta", "--", "true"], { env: rt.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  },
});

Deno.test("helper ended: --publish's relay killed while the sandbox runs: one line, the sandbox goes on", async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const r = await killHelper(
    ["--allow-host", "example.com", "-p", `127.0.0.1:${port}:8000`],
    (_comm, cmd) => cmd.includes("__publish-relay"),
    "echo ready; sleep 2; echo still here",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^still here$/m);
  assert.match(
    r.stderr,
    /^nsbox: the relay of --publish ended while the sandbox runs: the published ports are closed from now on$/m,
  );
});
