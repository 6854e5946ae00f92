// Two unprivileged users: one cannot see or join the other's sandboxes.
// This file runs as root (scripts/test.sh runs it after the unprivileged
// suites): root only creates the users and switches between them; every
// nsbox runs as one of the two.
import assert from "node:assert/strict";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");
const USERS = ["nsbox-test", "nsbox-test2"] as const;
const isRoot = Deno.uid() === 0;

async function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function home(user: string): string {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) => l.startsWith(`${user}:`));
  return line!.split(":")[5]!;
}

/** `nsbox ARGS` as `user` (its own DENO_DIR; no XDG_RUNTIME_DIR, so the store is /tmp/nsbox-UID). */
function nsboxAs(user: string, args: string[]) {
  return sh("runuser", [
    "-u",
    user,
    "--",
    "env",
    "-i",
    `HOME=${home(user)}`,
    "PATH=/usr/local/bin:/usr/bin:/bin",
    `DENO_DIR=${home(user)}/.cache/deno`,
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    `${ROOT}/main.ts`,
    ...args,
  ]);
}

Deno.test({
  name: "multiuser: another user can neither list nor exec into nor kill a sandbox",
  ignore: !isRoot,
  async fn() {
    for (const u of USERS) {
      if ((await sh("id", [u])).code !== 0) await sh("useradd", ["--create-home", "--shell", "/bin/sh", u]);
      await sh("runuser", ["-u", u, "--", "mkdir", "-p", `${home(u)}/.cache/deno`]);
    }
    const [owner, other] = USERS;
    const name = `iso-${Deno.pid}`;
    const started = await nsboxAs(owner, ["run", "-d", "--name", name, "--", "sleep", "1000"]);
    assert.equal(started.code, 0, started.stderr);
    try {
      const mine = await nsboxAs(owner, ["ps", "--json"]);
      assert.ok(JSON.parse(mine.stdout).some((r: { name: string }) => r.name === name));

      const theirs = await nsboxAs(other, ["ps", "--json"]);
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.equal(JSON.parse(theirs.stdout).some((r: { name: string }) => r.name === name), false);
      for (const args of [["exec", name, "--", "true"], ["kill", name], ["logs", name]]) {
        const r = await nsboxAs(other, args);
        assert.equal(r.code, 125, `${args}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^nsbox: no sandbox named '${name}'`, "m"), `${args}`);
      }
      // The owner's store is private: the other user cannot read it even by path.
      const uid = (await sh("id", ["-u", owner])).stdout.trim();
      const peek = await sh("runuser", ["-u", other, "--", "ls", `/tmp/nsbox-${uid}`]);
      assert.notEqual(peek.code, 0);
      assert.match(peek.stderr, /Permission denied/);
      // Nor join its namespaces directly.
      const state = JSON.parse(Deno.readTextFileSync(`/tmp/nsbox-${uid}/${name}/state.json`));
      const join = await sh("runuser", ["-u", other, "--", "nsenter", "-t", String(state.pid), "-U", "true"]);
      assert.notEqual(join.code, 0, "nsenter into another user's sandbox");
    } finally {
      await nsboxAs(owner, ["kill", "-s", "KILL", name]);
      await nsboxAs(owner, ["rm", name]);
    }
  },
});
