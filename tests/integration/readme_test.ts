/**
 * README.md's examples, run as written: every line of every block marked `<!-- example -->`
 * (tests/unit/_readme.ts reads them), as a new user would type it, with `nsbox` on PATH as a
 * symlink to scripts/nsbox. Each block runs in order in a scratch directory of its own, under a
 * home (below the real one, not in /tmp) and runtime directory of its own, holding the files the examples name (a Makefile, ~/data,
 * ./rootfs, ./configure, ...). A line exits 0 unless its comment says `(exit N)`; one whose comment
 * says `until Ctrl-C` must keep running (and answer on its `-p` port) until SIGINT; one that
 * `(needs X)` runs only where X is there: `internet` (the line's https URLs answer from the host),
 * `cgroup v2` (`nsbox run --mem 100M --cpus 0.5 --pids 200 -- true` works here); any other need fails the test.
 */
import assert from "node:assert/strict";
import { ROOT } from "./_harness.ts";
import { type CodeBlock, codeBlocks, type ExampleLine, isRun, README_PATH, shellComment } from "../unit/_readme.ts";

const README = Deno.readTextFileSync(README_PATH);
const BLOCKS = codeBlocks(README).filter(isRun);
const dec = new TextDecoder();

/** A home, a runtime directory and a scratch directory (`HOME/proj`) with the examples' files. */
interface Scratch extends AsyncDisposable {
  readonly home: string;
  readonly proj: string;
  readonly env: Record<string, string>;
}

async function copyWithLibs(file: string, root: string): Promise<void> {
  const ldd = await new Deno.Command("ldd", { args: [file], stdout: "piped", stderr: "null" }).output();
  const libs = [...dec.decode(ldd.stdout).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
  for (const f of [file, ...libs]) {
    const to = `${root}${f}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(await Deno.realPath(f), to);
    await Deno.chmod(to, 0o755);
  }
}

async function scratch(): Promise<Scratch> {
  // not under /tmp, which is the sandbox's own: a project in /tmp is not there inside without --bind
  const home = await Deno.makeTempDir({ dir: Deno.env.get("HOME"), prefix: ".nsbox-readme-home-" });
  const run = await Deno.makeTempDir({ prefix: "nsbox-readme-run-" });
  const bin = `${home}/.local/bin`;
  const proj = `${home}/proj`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink(`${ROOT}/scripts/nsbox`, `${bin}/nsbox`);
  await Deno.mkdir(`${home}/data`);
  await Deno.writeTextFile(`${home}/data/readme.txt`, "data\n");
  await Deno.mkdir(`${home}/.ssh`, { mode: 0o700 });
  await Deno.writeTextFile(`${home}/.ssh/id_ed25519`, "secret\n");
  await Deno.mkdir(proj);
  await Deno.writeTextFile(`${proj}/Makefile`, "all:\n\t@echo built\n");
  for (const script of ["configure", "install.sh", "reindex"]) {
    await Deno.writeTextFile(`${proj}/${script}`, `#!/bin/sh\necho ${script} ran\n`, { mode: 0o755 });
  }
  const pkg = { name: "readme-example", version: "1.0.0" };
  await Deno.writeTextFile(`${proj}/package.json`, JSON.stringify(pkg));
  await Deno.writeTextFile(
    `${proj}/package-lock.json`,
    JSON.stringify({ ...pkg, lockfileVersion: 3, requires: true, packages: { "": pkg } }),
  );
  await copyWithLibs("/bin/sh", `${proj}/rootfs`);
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    HOME: home,
    XDG_RUNTIME_DIR: run,
    PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
  };
  return {
    home,
    proj,
    env,
    async [Symbol.asyncDispose]() {
      // nothing an example started outlives the block
      await new Deno.Command(`${bin}/nsbox`, {
        args: ["kill", "--all", "-s", "KILL"],
        env,
        stdout: "null",
        stderr: "null",
      })
        .output();
      await Deno.remove(home, { recursive: true });
      await Deno.remove(run, { recursive: true });
    },
  };
}

/** Whether what `(needs X)` names is here; throws on a need this test does not know. */
async function has(need: string, line: string, s: Scratch): Promise<boolean> {
  if (need === "internet") {
    const urls = line.match(/https:\/\/[^\s'"]+/g) ?? ["https://deno.com"];
    for (const url of urls) {
      const c = await new Deno.Command("curl", {
        args: ["-sfI", "--max-time", "5", url],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (!c.success) return false;
    }
    return true;
  }
  if (need === "cgroup v2") {
    const c = await new Deno.Command("sh", {
      args: ["-c", "nsbox run --mem 100M --cpus 0.5 --pids 200 -- true"],
      env: s.env,
      stdout: "null",
      stderr: "null",
    }).output();
    return c.success;
  }
  throw new Error(`README.md: unknown need '${need}' (this test knows 'internet' and 'cgroup v2')`);
}

async function runLine(l: ExampleLine, s: Scratch): Promise<void> {
  const where = `README.md:${l.lineNo}: ${l.text}`;
  const comment = shellComment(l.text);
  if (/until Ctrl-C/.test(comment)) {
    const child = new Deno.Command("sh", {
      args: ["-c", `exec ${l.text}`],
      cwd: s.proj,
      env: s.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const port = /\s(?:-p|--publish)[ =](?:[\d.]+:)?(\d+):/.exec(l.text)?.[1];
    const deadline = Date.now() + 20_000;
    let answered = false;
    while (Date.now() < deadline && !answered) {
      await new Promise((r) => setTimeout(r, 200));
      if (!port) answered = Date.now() > deadline - 18_000; // no port to ask: still running after 2 s
      else {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/`);
          await res.body?.cancel();
          answered = res.ok;
        } catch { /* not yet */ }
      }
    }
    child.kill("SIGINT");
    const out = await child.output();
    assert.ok(answered, `${where}: did not ${port ? `answer on 127.0.0.1:${port}` : "keep running"}`);
    assert.ok([0, 130].includes(out.code), `${where}: exit ${out.code} after SIGINT\n${dec.decode(out.stderr)}`);
    return;
  }
  const expected = Number(/\(exit (\d+)\)/.exec(comment)?.[1] ?? 0);
  const child = new Deno.Command("sh", {
    args: ["-c", l.text],
    cwd: s.proj,
    env: s.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  assert.equal(
    out.code,
    expected,
    `${where}: exit ${out.code}\nstdout: ${dec.decode(out.stdout)}\nstderr: ${dec.decode(out.stderr)}`,
  );
}

async function runTs(block: CodeBlock, s: Scratch): Promise<void> {
  const file = `${s.proj}/example.ts`;
  const source = block.lines.map((l) => l.text).join("\n").replaceAll(`"./mod.ts"`, `"file://${ROOT}/mod.ts"`);
  await Deno.writeTextFile(file, source + "\n");
  const deno = (args: string[]) =>
    new Deno.Command(Deno.execPath(), { args, cwd: s.proj, env: s.env, stdout: "piped", stderr: "piped" }).output();
  const check = await deno(["check", "--config", `${ROOT}/deno.json`, file]);
  assert.equal(
    check.code,
    0,
    `README.md:${block.lineNo}: the library example does not type-check\n${dec.decode(check.stderr)}`,
  );
  for (const need of block.lines[0]?.needs ?? []) {
    if (!await has(need, "", s)) {
      console.log(`README.md:${block.lineNo}: type-checked; not run here (needs ${need})`);
      return;
    }
  }
  const run = await deno(["run", "-A", "--unstable-raw-imports", file]);
  assert.equal(
    run.code,
    0,
    `README.md:${block.lineNo}: the library example exits ${run.code}\n${dec.decode(run.stderr)}`,
  );
}

Deno.test("readme: the examples are marked (Usage, completions, networking, lifecycle, library)", () => {
  assert.ok(BLOCKS.length >= 5, `only ${BLOCKS.length} example blocks found`);
  assert.ok(BLOCKS.some((b) => b.lines.some((l) => l.text.startsWith("nsbox run --root -- id"))));
});

for (const block of BLOCKS) {
  const first = block.lines[0]?.text ?? "";
  Deno.test(`readme: the example block at README.md:${block.lineNo} (${first.slice(0, 50)}) runs as written`, async () => {
    await using s = await scratch();
    if (block.lang === "ts") return await runTs(block, s);
    assert.equal(block.lang, "", `README.md:${block.lineNo}: a block of ${block.lang} cannot be run`);
    const skipped: string[] = [];
    for (const l of block.lines) {
      let missing = "";
      for (const need of l.needs) if (!missing && !await has(need, l.text, s)) missing = need;
      if (missing) {
        skipped.push(`README.md:${l.lineNo}: not run here (needs ${missing}): ${l.text}`);
        continue;
      }
      await runLine(l, s);
    }
    if (skipped.length) console.log(skipped.join("\n"));
  });
}
