/**
 * What users with docker, podman and bubblewrap habits type: their spellings
 * work (or are answered in nsbox's), end to end through the real CLI.
 */
import { assert } from "./_assert.ts";
import { exists, lines, nsbox, ROOT, storeRoot, tempDir } from "./_harness.ts";
import { VERSION } from "../../src/version.ts";
import { ABI_VERSION } from "../../src/spawn/abi.ts";

function uniqueName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
}

Deno.test("docker habits: -e, --env-file, -w and -v SRC:DST:ro work as in docker", async () => {
  await using dir = await tempDir();
  Deno.writeTextFileSync(`${dir.path}/app.env`, "# settings\nFROM_FILE=file value\n\nFROM_CALLER\n");
  Deno.mkdirSync(`${dir.path}/data`);
  Deno.writeTextFileSync(`${dir.path}/data/f`, "content\n");
  const r = await nsbox([
    "run",
    "-e",
    "A=1",
    "--env",
    "FROM_CALLER",
    "--env-file",
    `${dir.path}/app.env`,
    "-e",
    "NSBOX_TEST_UNSET",
    "--tmpfs",
    "/srv",
    "-v",
    `${dir.path}/data:/srv/data:ro`,
    "--volume",
    `${dir.path}:/srv/rw`,
    "-w",
    "/srv/data",
    "--",
    "sh",
    "-c",
    'echo "A=$A FROM_CALLER=$FROM_CALLER FROM_FILE=$FROM_FILE UNSET=${NSBOX_TEST_UNSET-unset}"; pwd; cat f; ' +
    "touch /srv/data/new 2>/dev/null && echo wrote-ro; touch /srv/rw/new && echo wrote-rw",
  ], { env: { FROM_CALLER: "caller's" } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    "A=1 FROM_CALLER=caller's FROM_FILE=file value UNSET=unset",
    "/srv/data",
    "content",
    "wrote-rw",
  ]);
  assert.ok(Deno.statSync(`${dir.path}/new`).isFile);
});

Deno.test("docker habits: a path with ':' is bound with \\: (and --bind SRC:DST:ro is read-only)", async () => {
  await using dir = await tempDir();
  Deno.mkdirSync(`${dir.path}/a:b`);
  Deno.writeTextFileSync(`${dir.path}/a:b/f`, "colon\n");
  const src = `${dir.path}/a\\:b`;
  const r = await nsbox([
    "run",
    "--tmpfs",
    "/srv",
    "--bind",
    `${src}:/srv/x:ro`,
    "--ro-bind",
    `${src}:/srv/y`,
    "--",
    "sh",
    "-c",
    "cat /srv/x/f /srv/y/f; touch /srv/x/g 2>/dev/null || echo read-only",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["colon", "colon", "read-only"]);
});

Deno.test("docker habits: --rm, --unshare-all, --die-with-parent say they are the default; -i, -t, -it are silent", async () => {
  const [noted, silent] = await Promise.all([
    nsbox(["run", "--rm", "--unshare-all", "--die-with-parent", "--", "sh", "-c", "echo ran"]),
    nsbox(["run", "-it", "-i", "--tty", "--", "sh", "-c", "echo ran"]),
  ]);
  assert.equal(noted.code, 0, noted.stderr);
  assert.equal(noted.stdout, "ran\n");
  assert.deepEqual(lines(noted.stderr).map((l) => l.replace(/: the default.*/, "")), [
    "nsbox: --rm",
    "nsbox: --unshare-all",
    "nsbox: --die-with-parent",
  ]);
  assert.equal(silent.code, 0, silent.stderr);
  assert.equal(silent.stdout, "ran\n");
  assert.equal(silent.stderr, "");
});

Deno.test("docker habits: 'did you mean' suggests nothing far off for an unknown short or short option", async () => {
  const [short, long] = await Promise.all([
    nsbox(["run", "-E", "A=1", "--", "true"]),
    nsbox(["run", "--rn", "--", "true"]),
  ]);
  for (const r of [short, long]) {
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /unknown option for 'nsbox run'/);
    assert.doesNotMatch(r.stderr, /did you mean/);
  }
});

Deno.test("docker habits: --net host and --network none take the mode after a space, never run it", async () => {
  const hostNet = Deno.readLinkSync("/proc/self/ns/net");
  const [host, network, none] = await Promise.all([
    nsbox(["run", "--net", "host", "readlink", "/proc/self/ns/net"]),
    nsbox(["run", "--network", "host", "--", "readlink", "/proc/self/ns/net"]),
    nsbox(["run", "--net", "none", "--", "readlink", "/proc/self/ns/net"]),
  ]);
  assert.equal(host.code, 0, host.stderr);
  assert.equal(host.stdout.trim(), hostNet, "--net host: the host's network namespace");
  assert.equal(network.code, 0, network.stderr);
  assert.equal(network.stdout.trim(), hostNet, "--network host");
  assert.equal(none.code, 0, none.stderr);
  assert.notEqual(none.stdout.trim(), hostNet, "--net none: a network namespace of its own");
  assert.match(none.stdout.trim(), /^net:\[\d+\]$/);
});

Deno.test("docker habits: --share net --net names what was typed", async () => {
  const r = await nsbox(["run", "--share", "net", "--net", "--", "true"]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^nsbox: --net: cannot be used with --share net/m);
  assert.doesNotMatch(r.stderr, /--net=auto|auto/);
});

Deno.test("lifecycle habits: flags after the name (logs NAME -f, kill NAME -s KILL); ps --json exit fields", async () => {
  const name = uniqueName("habits");
  const start = await nsbox(["run", "-d", "--name", name, "--", "sh", "-c", "echo up; exec sleep 1000"]);
  assert.equal(start.code, 0, start.stderr);
  try {
    const running = JSON.parse((await nsbox(["ps", "--json"])).stdout).find((r: { name: string }) => r.name === name);
    assert.ok(running, "ps lists it");
    assert.equal(running.exitCode, null);
    assert.equal(running.signal, null);
    assert.equal(typeof running.supervisorPid, "number");
    assert.deepEqual(running.ports, []);
    const kill = await nsbox(["kill", name, "-s", "KILL"]);
    assert.equal(kill.code, 0, kill.stderr);
    const logs = await nsbox(["logs", name, "-f"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "up\n");
    const ended = JSON.parse((await nsbox(["ps", "-a", "--json"])).stdout).find((r: { name: string }) =>
      r.name === name
    );
    assert.ok(ended, "ps --all lists it");
    assert.equal(ended.exitCode, 137);
    assert.ok(ended.signal === null || ended.signal === "SIGKILL", String(ended.signal));
    assert.deepEqual(ended.command, ["sh", "-c", "echo up; exec sleep 1000"]);
    assert.equal(ended.supervisorPid, running.supervisorPid);
    assert.deepEqual(ended.ports, []);

    // the name of an ended sandbox is refused until rm, and its log stays
    const again = await nsbox(["run", "-d", "--name", name, "--", "sleep", "1000"]);
    assert.equal(again.code, 125, again.stderr);
    assert.equal(again.stdout, "");
    assert.equal(
      lines(again.stderr)[0],
      `nsbox: --name: a sandbox named '${name}' exists (ended); nsbox rm ${name} first`,
    );
    const fg = await nsbox(["run", "--name", name, "--", "true"]);
    assert.equal(fg.code, 125, fg.stderr);
    assert.equal((await nsbox(["logs", name])).stdout, "up\n", "the log is kept");
    assert.equal((await nsbox(["rm", name])).code, 0);
    const reused = await nsbox(["run", "--name", name, "--", "true"]);
    assert.equal(reused.code, 0, reused.stderr);
  } finally {
    await nsbox(["kill", "-s", "KILL", name]);
    await nsbox(["rm", name]);
  }
  assert.equal(exists(`${storeRoot()}/${name}`), false, "nothing left");
});

Deno.test("nsbox --version and nsbox version: nsbox's, Deno's and the helper ABI's versions", async () => {
  const [long, word, extra] = await Promise.all([
    nsbox(["--version"]),
    nsbox(["version"]),
    nsbox(["version", "x"]),
  ]);
  const expected = [`nsbox ${VERSION}`, `deno ${Deno.version.deno}`, `helper ABI ${ABI_VERSION}`];
  for (const r of [long, word]) {
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), expected);
  }
  assert.equal(extra.code, 125);
});

Deno.test("nsbox help COMMAND is COMMAND --help; each command's help ends with its own exit statuses", async () => {
  for (const cmd of ["run", "ps", "exec", "kill", "logs", "rm", "completions"]) {
    const [help, flag] = await Promise.all([nsbox(["help", cmd]), nsbox([cmd, "--help"])]);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stdout, flag.stdout, cmd);
    const exits = help.stdout.slice(help.stdout.lastIndexOf("Exit status:"));
    assert.ok(exits.length > 12, `${cmd}: no exit statuses`);
    assert.equal(/\b126\b/.test(exits), cmd === "run" || cmd === "exec", `${cmd}: ${exits}`);
  }
  const bad = await nsbox(["help", "frobnicate"]);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /frobnicate/);
});

Deno.test("scripts/nsbox keeps its own variables (DENO, NSBOX_ROOT) out of the sandbox", async () => {
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/" };
  const run = (extra: Record<string, string>) =>
    new Deno.Command("sh", {
      args: [`${ROOT}/scripts/nsbox`, "run", "--", "env"],
      env: { ...env, ...extra },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const [plain, own] = await Promise.all([run({}), run({ DENO: "mine" })]);
  const dec = new TextDecoder();
  for (const out of [plain, own]) assert.equal(out.code, 0, dec.decode(out.stderr));
  const names = (o: Deno.CommandOutput) => lines(dec.decode(o.stdout)).map((l) => l.split("=")[0]);
  assert.ok(!names(plain).includes("DENO"), dec.decode(plain.stdout));
  assert.ok(!names(plain).includes("NSBOX_ROOT"), dec.decode(plain.stdout));
  assert.ok(lines(dec.decode(own.stdout)).includes("DENO=mine"), "the caller's own DENO is kept");
});
