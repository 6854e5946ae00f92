/**
 * `--profile`: the built-ins as they run, a user profile from the configuration directory, the command
 * line's precedence, bad profiles, `nsbox profile list|show`, and that no sandbox can write a profile.
 *
 * @module
 */
import assert from "node:assert/strict";
import { nsbox } from "./_harness.ts";

const HOME = Deno.env.get("HOME") ?? "";
const NO_HOME = !HOME.startsWith("/home/");

/** A project directory in the home (not the home itself), removed at the end. */
async function project(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.realPath(await Deno.makeTempDir({ dir: HOME, prefix: ".nsbox-proj-" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A configuration directory of its own (XDG_CONFIG_HOME) with `profiles/NAME.json` files. */
async function configWith(profiles: Record<string, string>): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ dir: HOME, prefix: ".nsbox-cfg-" });
  await Deno.mkdir(`${path}/nsbox/profiles`, { recursive: true });
  for (const [name, text] of Object.entries(profiles)) await Deno.writeTextFile(`${path}/nsbox/profiles/${name}`, text);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Creates `path` (a file) for the test when it is not there; removes what it made at the end. */
async function ensureFile(path: string): Promise<AsyncDisposable> {
  const made: string[] = [];
  const parts = path.split("/");
  for (let i = 2; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    try {
      await Deno.mkdir(dir);
      made.unshift(dir);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  let madeFile = false;
  try {
    await Deno.writeTextFile(path, "SECRET\n", { createNew: true });
    madeFile = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  return {
    async [Symbol.asyncDispose]() {
      if (madeFile) await Deno.remove(path);
      for (const d of made) await Deno.remove(d);
    },
  };
}

Deno.test({
  name: "--profile untrusted: clean environment, no network, only the cwd writable, secrets hidden",
  ignore: NO_HOME,
}, async () => {
  await using p = await project();
  await using _aws = await ensureFile(`${HOME}/.aws/credentials`);
  const script = 'echo "token=${GITHUB_TOKEN:-none} path=${PATH:+set}"; ' +
    "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; " +
    "echo ok > here && cat here; " +
    '(echo x > "$HOME/.nsbox-untrusted") 2>/dev/null && echo home-writable || echo home-read-only; ' +
    'ls -A "$HOME/.aws"; echo end';
  const r = await nsbox(["run", "--profile", "untrusted", "--", "sh", "-c", script], {
    cwd: p.path,
    env: { GITHUB_TOKEN: "ghp_secret" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "token=none path=set\nlo\nok\nhome-read-only\nend\n");
  assert.equal(await Deno.readTextFile(`${p.path}/here`), "ok\n");
});

Deno.test({
  name: "--profile untrusted and build refuse the home and / as the current directory (125)",
  ignore: NO_HOME,
}, async () => {
  for (const name of ["untrusted", "build"]) {
    for (const cwd of [HOME, "/"]) {
      const r = await nsbox(["run", "--profile", name, "--", "true"], { cwd });
      assert.equal(r.code, 125);
      assert.match(r.stderr, new RegExp(`^nsbox: --profile ${name}: refuses to run with the current directory at `));
      assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    }
  }
});

Deno.test({
  name: "--profile build: refused while --allow-host is not available; else the network part runs",
  ignore: NO_HOME,
}, async () => {
  await using p = await project();
  const show = await nsbox(["profile", "show", "build"], { cwd: p.path });
  const own = /^--bind ([^:]+):/m.exec(show.stdout)![1]!;
  await using _cleanup = { [Symbol.asyncDispose]: () => Deno.remove(own, { recursive: true }).catch(() => {}) };
  const r = await nsbox(["run", "--profile", "build", "--", "true"], { cwd: p.path });
  assert.ok((await Deno.stat(own)).isDirectory, "the project's home is made");
  if (r.stderr.includes("--allow-host: not available yet")) {
    // until nsbox's egress proxy lands: refused outright, never run with the unfiltered network
    assert.equal(r.code, 125);
    assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    return;
  }
  assert.equal(r.code, 0, r.stderr);
});

Deno.test({
  name: "--profile build's home: per project, writable for package managers, the real one hidden",
  ignore: NO_HOME,
}, async () => {
  await using p = await project();
  await using q = await project();
  await using _marker = await ensureFile(`${HOME}/.nsbox-real-home-marker`);
  /** The flags `profile show build` prints for `dir`, without --allow-host (not available yet). */
  const flagsFor = async (dir: string) => {
    const show = await nsbox(["profile", "show", "build"], { cwd: dir });
    assert.equal(show.code, 0, show.stderr);
    const words = await new Deno.Command("sh", {
      args: ["-c", `eval "set -- $(grep -v '^#' | tr -d '\\\\\\n')"; printf '%s\\0' "$@"`],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const w = words.stdin.getWriter();
    await w.write(new TextEncoder().encode(show.stdout.replaceAll(" \\\n", " ")));
    await w.close();
    const args = new TextDecoder().decode((await words.output()).stdout).split("\0").slice(0, -1);
    const out: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "--allow-host") i++;
      else out.push(args[i]!);
    }
    return out;
  };
  const flags = await flagsFor(p.path);
  const own = flags[flags.indexOf("--bind") + 1]!.split(":")[0]!;
  assert.match(own, /\/\.cache\/nsbox\/homes\/[0-9a-f]{32}$/);
  // what `run --profile build` does first: the home, with the project's mount point in it
  const point = p.path.startsWith(`${HOME}/`) ? own + p.path.slice(HOME.length) : own;
  await Deno.mkdir(point, { recursive: true, mode: 0o700 });
  const script = "mkdir -p ~/.npm ~/.cache/pip ~/.cargo && echo 1 > ~/.npm/cache && " +
    "test ! -e ~/.nsbox-real-home-marker && echo ok > built && cat ~/.npm/cache built";
  const r = await nsbox(["run", ...flags, "--", "sh", "-c", script], { cwd: p.path });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "1\nok\n");
  assert.equal(await Deno.readTextFile(`${own}/.npm/cache`), "1\n"); // kept for the next run
  assert.equal(await Deno.readTextFile(`${p.path}/built`), "ok\n"); // the project bound on top
  const other = await flagsFor(q.path);
  assert.notEqual(other[other.indexOf("--bind") + 1]!.split(":")[0], own);
  await Deno.remove(own, { recursive: true });
});

Deno.test({
  name: "--profile NAME from the configuration directory; the command line adds and replaces",
  ignore: NO_HOME,
}, async () => {
  await using p = await project();
  await using cfg = await configWith({
    "mine.json": JSON.stringify({ hostname: "from-profile", setenv: { A: "1" }, "unsetenv": ["B"], mem: "bad" }),
    "ok.json": JSON.stringify({ hostname: "from-profile", setenv: { A: "1" }, tmpfs: ["/tmp/p"] }),
  });
  const env = { XDG_CONFIG_HOME: cfg.path, B: "b" };
  const bad = await nsbox(["run", "--profile", "mine", "--", "true"], { cwd: p.path, env });
  assert.equal(bad.code, 125);
  assert.equal(
    bad.stderr,
    `nsbox: --profile ${cfg.path}/nsbox/profiles/mine.json: --mem: expected a size such as 256M or 1.5G, got 'bad'.\n`,
  );
  const script = 'echo "$(hostname) A=$A C=$C"; ls -d /tmp/p /tmp/c';
  const r = await nsbox(
    ["run", "--profile", "ok", "--hostname", "cli", "--setenv", "C=3", "--tmpfs", "/tmp/c", "--", "sh", "-c", script],
    { cwd: p.path, env },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "cli A=1 C=3\n/tmp/c\n/tmp/p\n");
  const unknown = await nsbox(["run", "--profile", "nothing", "--", "true"], { cwd: p.path, env });
  assert.equal(unknown.code, 125);
  assert.equal(
    unknown.stderr,
    `nsbox: --profile: cannot read profile ${cfg.path}/nsbox/profiles/nothing.json: no such file (built-in: untrusted, build).\n`,
  );
});

Deno.test({
  name: "no sandbox can write a profile: the configuration directory is covered, even under --bind ~",
  ignore: NO_HOME,
}, async () => {
  await using cfg = await configWith({});
  const dir = `${cfg.path}/nsbox/profiles`;
  for (
    const [flags, base] of [[["--bind", HOME], cfg.path], [["--bind", `${cfg.path}:/tmp/cfg`], "/tmp/cfg"]] as const
  ) {
    // inside, nsbox/ is an empty read-only directory: profiles/ is not there, and nothing can be made in it
    const script =
      `echo '{"bind": ["/"]}' > ${base}/nsbox/profiles/evil.json 2>/dev/null && echo wrote || echo refused; ` +
      `mkdir ${base}/nsbox/profiles 2>/dev/null && echo made || echo refused; ` +
      `echo '{}' > ${base}/nsbox/evil.json 2>/dev/null && echo wrote || echo refused; ls -A ${base}/nsbox; echo end`;
    const r = await nsbox(["run", ...flags, "--", "sh", "-c", script], { env: { XDG_CONFIG_HOME: cfg.path } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "refused\nrefused\nrefused\nend\n", flags.join(" "));
  }
  assert.deepEqual([...Deno.readDirSync(dir)], []);
  assert.deepEqual([...Deno.readDirSync(`${cfg.path}/nsbox`)].map((e) => e.name), ["profiles"]);
});

Deno.test("nsbox profile list, show, --help and a bad subcommand", async () => {
  const list = await nsbox(["profile", "list"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^untrusted +built-in: .*\nbuild +built-in: /);
  const help = await nsbox(["profile", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: nsbox profile list \| show NAME\|FILE\n/);
  const bad = await nsbox(["profile", "remove", "x"]);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, "nsbox: profile: expected 'list' or 'show NAME|FILE', got 'remove x'.\n");
  const show = await nsbox(["profile", "show", "untrusted"], { cwd: "/tmp" });
  assert.equal(show.code, 0, show.stderr);
  assert.match(
    show.stdout,
    /^# --profile untrusted \(built-in\) in \/tmp is the same as these flags of nsbox run:\n--clearenv \\\n/,
  );
  assert.match(show.stdout, /\n--net=none \\\n--bind \/tmp \\\n--hide /);
});
