/**
 * Profiles: keys and types, precedence of the command line, lookup, every kind of bad profile, the
 * built-ins' contents, and `nsbox profile list|show`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { RUN } from "../../src/cli/flags.ts";
import { parseArgs } from "../../src/cli/parse.ts";
import { runOptionsFromArgs } from "../../src/cli/run_command.ts";
import {
  applyProfile,
  BUILD_ALLOWED_HOSTS,
  ENV_ALLOWLIST,
  loadProfile,
  type ProfileHost,
  profileUses,
  projectHome,
  SECRET_PLACES,
} from "../../src/cli/profile.ts";
import { profileOutput } from "../../src/cli/profile_command.ts";
import { fakeHost } from "./_fake_host.ts";

interface FakeInit {
  cwd?: string;
  env?: Record<string, string>;
  uid?: number;
  files?: Record<string, string>;
  dirs?: Record<string, string[]>;
}

function fakeProfileHost(init: FakeInit = {}): ProfileHost & { made: string[] } {
  const made: string[] = [];
  return {
    cwd: init.cwd ?? "/home/user/proj",
    env: init.env ?? { HOME: "/home/user", PATH: "/usr/bin:/bin", LC_TIME: "C", GITHUB_TOKEN: "secret" },
    uid: init.uid ?? 1000,
    made,
    list: (dir) => init.dirs?.[dir] ?? [],
    realPath: (p) => p,
    read: (p) => init.files?.[p] !== undefined ? { text: init.files[p]! } : { error: "no such file" },
    makeDir(p) {
      made.push(p);
      return null;
    },
  };
}

function problemsOf(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return e.problems;
  }
  assert.fail("accepted");
}

const PROFILES = "/home/user/.config/nsbox/profiles";

/** `nsbox run --profile P ARGS...` as run options, on `host`. */
function options(args: string[], host: ProfileHost) {
  return runOptionsFromArgs(applyProfile(parseArgs(RUN, args), host), fakeHost({ env: { ...host.env } }));
}

Deno.test("profile: every flag of nsbox run is a key, with its type (booleans, values, arrays)", () => {
  for (const flag of RUN.flags) {
    if (flag.name === "help" || flag.name === "profile") continue;
    const v = flag.value === undefined ? true : flag.repeatable ? ["x"] : "x";
    const problems: string[] = [];
    const { uses } = profileUses({ [flag.name]: v }, "p.json", {}, problems);
    if (flag.choices) {
      // a single value with choices: only those
      assert.match(problems[0]!, new RegExp(`^--profile p.json: "${flag.name}": expected one of`));
      continue;
    }
    assert.deepEqual(problems, [], flag.name);
    assert.deepEqual(uses.map((u) => [u.flag.name, u.value]), [[flag.name, flag.value === undefined ? true : "x"]]);
  }
  for (const key of ["help", "profile", "nope"]) {
    const problems: string[] = [];
    profileUses({ [key]: true }, "p.json", {}, problems);
    assert.match(problems[0]!, new RegExp(`^--profile p.json: "${key}": unknown key`));
  }
});

Deno.test("profile: setenv takes an object or NAME=VALUE strings; net: true is --net; aliases; false is nothing", () => {
  const problems: string[] = [];
  const { uses } = profileUses(
    { setenv: { A: "1", B: "x=y" }, net: true, volume: ["~/d:/d"], root: false, mem: "1G", cpus: 2 },
    "p.json",
    { HOME: "/home/user" },
    problems,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(uses.map((u) => [u.flag.name, u.value]), [
    ["setenv", "A=1"],
    ["setenv", "B=x=y"],
    ["net", "auto"],
    ["bind", "/home/user/d:/d"],
    ["mem", "1G"],
    ["cpus", "2"],
  ]);
});

Deno.test("profile: the command line's list flags add after the profile's; single values replace", () => {
  const host = fakeProfileHost({
    files: {
      [`${PROFILES}/ci.json`]: JSON.stringify({
        bind: ["/srv/a"],
        hide: ["~/.ssh"],
        "allow-host": ["a.example"],
        setenv: { A: "1" },
        unsetenv: ["X"],
        publish: ["8080:80"],
        tmpfs: ["/t"],
        "ro-bind": ["/srv/b"],
        net: "pasta",
        mem: "1G",
        hostname: "p",
        chdir: "/p",
        seccomp: "unconfined",
        root: true,
      }),
    },
  });
  const o = options([
    "--profile",
    "ci",
    "--bind",
    "/srv/c",
    "--hide",
    "/x",
    "--allow-host",
    "b.example",
    "--setenv",
    "B=2",
    "--unsetenv",
    "Y",
    "-p",
    "9090:90",
    "--tmpfs",
    "/u",
    "--net",
    "slirp4netns",
    "--mem",
    "2G",
    "--hostname",
    "c",
    "-w",
    "/c",
    "--seccomp",
    "default",
    "sh",
  ], host);
  assert.deepEqual(o.mounts!.map((m) => m.kind === "bind" ? m.source : m.destination), [
    "/srv/a",
    "/t",
    "/srv/b",
    "/srv/c",
    "/u",
  ]);
  assert.deepEqual(o.hide, ["/home/user/.ssh", "/x"]);
  assert.deepEqual(o.allowHosts, ["a.example", "b.example"]);
  assert.deepEqual(o.envEdits, [
    { kind: "set", name: "A", value: "1" },
    { kind: "unset", name: "X" },
    { kind: "set", name: "B", value: "2" },
    { kind: "unset", name: "Y" },
  ]);
  assert.deepEqual(o.publish!.map((p) => p.hostPort), [8080, 9090]);
  assert.equal(o.net, "slirp4netns");
  assert.equal(o.limits!.memory, 2 * 2 ** 30);
  assert.equal(o.hostname, "c");
  assert.equal(o.chdir, "/c");
  assert.equal(o.seccomp, "default");
  assert.equal(o.root, true);
  assert.deepEqual(o.command, ["sh"]);
  // without command-line values, the profile's stand
  const p = options(["--profile", "ci", "sh"], host);
  assert.equal(p.net, "pasta");
  assert.equal(p.limits!.memory, 2 ** 30);
});

Deno.test("profile: NAME is a built-in first, then NAME.json in $XDG_CONFIG_HOME/nsbox/profiles; a path is a file", () => {
  const host = fakeProfileHost({
    env: { HOME: "/home/user", XDG_CONFIG_HOME: "/cfg" },
    files: {
      "/cfg/nsbox/profiles/mine.json": '{"hostname": "mine"}',
      "/cfg/nsbox/profiles/untrusted.json": '{"hostname": "planted"}',
      "/home/user/proj/p.json": '{"hostname": "file"}',
    },
  });
  assert.equal(loadProfile("mine", host).source, "/cfg/nsbox/profiles/mine.json");
  assert.equal(loadProfile("untrusted", host).source, "built-in");
  assert.ok(!loadProfile("untrusted", host).uses.some((u) => u.flag.name === "hostname"));
  assert.equal(loadProfile("./p.json", host).uses[0]!.value, "file");
  assert.equal(loadProfile("p.json", host).uses[0]!.value, "file");
  assert.equal(loadProfile("/home/user/proj/p.json", host).uses[0]!.value, "file");
  assert.deepEqual(problemsOf(() => loadProfile("nope", host)), [
    "--profile: cannot read profile /cfg/nsbox/profiles/nope.json: no such file (built-in: untrusted, build).",
  ]);
});

Deno.test("profile: every bad profile is one line naming the file, the key and the reason", () => {
  const bad = (text: string) =>
    problemsOf(() => loadProfile("/p.json", fakeProfileHost({ files: { "/p.json": text } })));
  assert.deepEqual(bad("{"), [
    `--profile /p.json: not JSON: ${
      (() => {
        try {
          JSON.parse("{");
        } catch (e) {
          return (e as Error).message;
        }
      })()
    }.`,
  ]);
  assert.deepEqual(bad("[]"), ["--profile /p.json: expected a JSON object whose keys are flags of nsbox run."]);
  assert.deepEqual(bad('{"bnid": ["/a"]}'), [
    '--profile /p.json: "bnid": unknown key: expected a long flag name of nsbox run, such as "bind", "net" or "mem".',
  ]);
  assert.deepEqual(bad('{"root": "yes"}'), ['--profile /p.json: "root": expected true or false, got "yes".']);
  assert.deepEqual(bad('{"bind": "/a"}'), ['--profile /p.json: "bind": expected an array of strings, got "/a".']);
  assert.deepEqual(bad('{"mem": ["1G"]}'), ['--profile /p.json: "mem": expected SIZE as a string, got ["1G"].']);
  assert.deepEqual(bad('{"setenv": {"A": 1}}'), ['--profile /p.json: "setenv": expected a string value for A, got 1.']);
  assert.deepEqual(bad('{"net": "bogus"}'), [
    "--profile /p.json: \"net\": expected one of pasta, slirp4netns, host, none, auto, got 'bogus'.",
  ]);
  assert.deepEqual(bad('{"mem": "lots"}'), [
    "--profile /p.json: --mem: expected a size such as 256M or 1.5G, got 'lots'.",
  ]);
  assert.deepEqual(bad('{"tmpfs": ["/x:size=big"]}'), [
    "--profile /p.json: --tmpfs: expected DST[:size=SIZE][,mode=OCTAL] (e.g. /scratch:size=64M), got '/x:size=big'.",
  ]);
  assert.deepEqual(bad('{"description": 3}'), ['--profile /p.json: "description": expected a string.']);
  // several problems: one line each
  assert.equal(bad('{"a": 1, "b": 2}').length, 2);
  assert.deepEqual(problemsOf(() => loadProfile("/missing.json", fakeProfileHost())), [
    "--profile: cannot read profile /missing.json: no such file.",
  ]);
});

Deno.test("built-in untrusted: clean environment with the allowlist, no network, the cwd writable, secrets hidden", () => {
  const host = fakeProfileHost({ dirs: { "/home": ["user", "alice", "bob"] } });
  const o = options(["--profile", "untrusted", "sh"], host);
  assert.equal(o.clearEnv, true);
  assert.deepEqual(o.envEdits, [
    { kind: "set", name: "PATH", value: "/usr/bin:/bin" },
    { kind: "set", name: "HOME", value: "/home/user" },
    { kind: "set", name: "LC_TIME", value: "C" },
  ]);
  assert.equal(o.net, "none");
  assert.deepEqual(o.mounts, [{ kind: "bind", source: "/home/user/proj", destination: undefined, readOnly: false }]);
  assert.deepEqual(o.hide, [
    ...SECRET_PLACES.map((p) => `/home/user${p.slice(1)}`),
    "/home/alice",
    "/home/bob",
    "/root",
  ]);
  assert.deepEqual(o.allowHosts, []);
  assert.ok(ENV_ALLOWLIST.includes("PATH") && !(ENV_ALLOWLIST as readonly string[]).includes("GITHUB_TOKEN"));
});

Deno.test("built-ins refuse the current directory at /, at the home or above it", () => {
  for (const name of ["untrusted", "build"]) {
    for (const cwd of ["/", "/home/user", "/home"]) {
      const [line] = problemsOf(() => loadProfile(name, fakeProfileHost({ cwd })));
      assert.match(line!, new RegExp(`^--profile ${name}: refuses to run with the current directory at `));
    }
  }
});

Deno.test("built-in build: registries allowed, the project's own home over the real one, the cwd on top", () => {
  const host = fakeProfileHost({ dirs: { "/home": ["user", "alice"] } });
  const o = options(["--profile", "build", "sh"], host);
  const own = projectHome(host.env, "/home/user/proj")!;
  assert.match(own, /^\/home\/user\/\.cache\/nsbox\/homes\/[0-9a-f]{32}$/);
  // the home, with the project's mount point in it (so that the home stays a writable bind, not a read-only copy)
  assert.deepEqual(host.made, [`${own}/proj`]);
  assert.deepEqual(o.mounts, [
    { kind: "bind", source: own, destination: "/home/user", readOnly: false },
    { kind: "bind", source: "/home/user/proj", destination: undefined, readOnly: false },
  ]);
  assert.deepEqual(o.allowHosts, [...BUILD_ALLOWED_HOSTS]);
  assert.deepEqual(o.hide, ["/home/alice", "/root"]);
  assert.equal(o.clearEnv, true);
  // one home per project
  assert.notEqual(projectHome(host.env, "/home/user/other"), own);
  assert.equal(projectHome({ HOME: "/h", XDG_CACHE_HOME: "/c" }, "/p")!.startsWith("/c/nsbox/homes/"), true);
  // `profile show` makes nothing
  const shown = fakeProfileHost();
  profileOutput(["show", "build"], shown);
  assert.deepEqual(shown.made, []);
});

Deno.test("nsbox profile show prints the flags that do the same; list names built-ins and yours", () => {
  const host = fakeProfileHost({
    files: { [`${PROFILES}/ci.json`]: '{"description": "for CI", "net": true, "bind": ["/a b"], "clearenv": true}' },
    dirs: { [PROFILES]: ["ci.json", "untrusted.json", "broken.json", "notes.txt"] },
  });
  assert.equal(
    profileOutput(["show", "ci"], host),
    `# --profile ci (${PROFILES}/ci.json) is the same as these flags of nsbox run:\n` +
      "--net=auto \\\n--bind '/a b' \\\n--clearenv",
  );
  // the printed flags parse back to the same options
  const shown = profileOutput(["show", "ci"], host).split("\n").slice(1).join(" ").replaceAll(" \\ ", " ");
  assert.equal(shown, "--net=auto --bind '/a b' --clearenv");
  const list = profileOutput(["list"], host).split("\n");
  assert.match(list[0]!, /^untrusted +built-in: /);
  assert.match(list[1]!, /^build +built-in: /);
  assert.match(list[2]!, /^broken +\/home\/user\/\.config\/nsbox\/profiles\/broken\.json \(bad: /);
  assert.equal(list[3], `ci              ${PROFILES}/ci.json: for CI`);
  assert.equal(list[4], `untrusted       ${PROFILES}/untrusted.json (not used: untrusted is a built-in name)`);
  assert.match(profileOutput(["--help"], host), /^Usage: nsbox profile list \| show NAME\|FILE/);
  assert.deepEqual(problemsOf(() => profileOutput(["shw"], host)), [
    "profile: expected 'list' or 'show NAME|FILE', got 'shw'.",
  ]);
  assert.deepEqual(problemsOf(() => profileOutput([], host)), [
    "profile: expected 'list' or 'show NAME|FILE', got nothing.",
  ]);
});
