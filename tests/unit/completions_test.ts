/**
 * Shell completions generated from the flag table (src/cli/completions.ts):
 * bash driven for real (COMP_WORDS/COMP_CWORD/COMP_LINE and the generated
 * function), fish through `complete -C`, zsh through a pseudo-terminal
 * (zsh/zpty), and the generators' content for every flag of the table.
 */
import assert from "node:assert/strict";
import {
  bashCompletion,
  fishCompletion,
  flagSpellings,
  SHELLS,
  valueChoices,
  valueKind,
  zshCompletion,
} from "../../src/cli/completions.ts";
import { type CommandDef, COMMANDS, COMPLETIONS, type FlagDef, KILL, RUN } from "../../src/cli/flags.ts";
import { SHAREABLE_NAMESPACES } from "../../src/spec/options.ts";
import { SIGNALS } from "../../src/linux.ts";

const dec = new TextDecoder();

function hasProgram(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

/** A directory with files, a subdirectory, an executable `zzcmd-nsbox-test` and a fake `nsbox` that lists sandboxes. */
function fixture(): { dir: string; bin: string; log: string } {
  const dir = Deno.makeTempDirSync({ prefix: "nsbox-compl-" });
  Deno.mkdirSync(`${dir}/sub`);
  Deno.writeTextFileSync(`${dir}/file.json`, "{}");
  Deno.writeTextFileSync(`${dir}/other.txt`, "");
  const bin = `${dir}/bin`;
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(`${bin}/zzcmd-nsbox-test`, "#!/bin/sh\n", { mode: 0o755 });
  const log = `${dir}/nsbox-calls`;
  // stands in for nsbox: answers `ps -q [-a]` with names, and records how it was asked
  Deno.writeTextFileSync(
    `${bin}/nsbox`,
    `#!/bin/sh\necho "$*" >> ${log}\n[ "$1 $2" = "ps -q" ] || exit 2\nprintf 'web\\nworker\\n'\n[ "$3" = -a ] && echo ended\nexit 0\n`,
    { mode: 0o755 },
  );
  return { dir, bin, log };
}

/**
 * Completes `line` (the cursor at its end) with the bash script: COMP_WORDS split as bash splits them
 * (blanks, and = and : as words of their own, COMP_WORDBREAKS' default), COMP_LINE, COMP_POINT, COMP_CWORD.
 */
async function bash(script: string, lines: string[], env: Record<string, string> = {}): Promise<string[][]> {
  const driver = `
${script}
complete_line() {
  COMP_LINE=$1 COMP_POINT=\${#1} COMP_WORDS=()
  local w raw=()
  read -ra raw <<<"$1"
  for w in "\${raw[@]}"; do
    while [[ $w =~ ^([^=:]*)([=:])(.*)$ ]]; do
      [[ -n \${BASH_REMATCH[1]} ]] && COMP_WORDS+=("\${BASH_REMATCH[1]}")
      COMP_WORDS+=("\${BASH_REMATCH[2]}") w=\${BASH_REMATCH[3]}
    done
    [[ -n $w ]] && COMP_WORDS+=("$w")
  done
  [[ $1 == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
  _nsbox
  printf '%s\\n' "\${COMPREPLY[@]}" "@@"
}
${lines.map((l) => `complete_line '${l}'`).join("\n")}
`;
  const out = await new Deno.Command("bash", {
    args: ["-c", driver],
    stdin: "null",
    env: { ...env },
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.equal(dec.decode(out.stderr), "");
  const groups = dec.decode(out.stdout).split("@@\n");
  groups.pop();
  return groups.map((g) => g.split("\n").filter((x) => x !== ""));
}

Deno.test("completions: every shell of `nsbox completions` has a generator, and help lists the same shells", () => {
  assert.deepEqual([...SHELLS], [...COMPLETIONS.operands!.choices!]);
});

Deno.test("completions: value kinds come from the table, or from the placeholder of flags that have none", () => {
  const flag = (value: string | undefined, kind?: FlagDef["kind"]): FlagDef => ({
    name: "x",
    value,
    kind,
    group: "g",
    help: "h",
  });
  assert.equal(valueKind(flag(undefined)), null);
  assert.equal(valueKind(flag("NS[,NS...]")), "namespaces");
  assert.equal(valueKind(flag("SIGNAL")), "signal");
  assert.equal(valueKind(flag("CAP")), "capability");
  assert.equal(valueKind(flag("NAME=VALUE")), "env-assign");
  assert.equal(valueKind(flag("DIR")), "dir");
  assert.equal(valueKind(flag("FILE")), "path");
  assert.equal(valueKind(flag("SRC[:DST]")), "path");
  assert.equal(valueKind(flag("SIZE")), "size");
  assert.equal(valueKind(flag("N")), "number");
  assert.equal(valueKind(flag("NAME")), "text");
  assert.equal(valueKind(flag("MODE", "net-mode")), "net-mode");
  // the real table: the flags the issue names
  const run = (n: string) => RUN.flags.find((f) => f.name === n)!;
  assert.equal(valueKind(run("share")), "namespaces");
  assert.equal(valueKind(run("net")), "net-mode");
  assert.equal(valueKind(run("bind")), "path");
  assert.equal(valueKind(run("rootfs")), "dir");
  assert.equal(valueKind(run("mem")), "size");
  assert.equal(valueKind(KILL.flags.find((f) => f.name === "signal")!), "signal");
  assert.deepEqual(valueChoices("namespaces"), SHAREABLE_NAMESPACES);
  assert.deepEqual(valueChoices("net-mode"), ["pasta", "slirp4netns", "host"]);
  assert.equal(valueChoices("signal").length, Object.keys(SIGNALS).length);
  assert.deepEqual(valueChoices("size"), []);
  assert.deepEqual(valueChoices("profile"), ["untrusted", "build"]);
});

Deno.test("completions: every command and every spelling of every flag is in the bash, zsh and fish scripts", () => {
  const scripts = { bash: bashCompletion(), zsh: zshCompletion(), fish: fishCompletion() };
  for (const [shell, text] of Object.entries(scripts)) {
    for (const c of COMMANDS) {
      assert.ok(text.includes(c.name), `${shell}: command ${c.name}`);
      for (const f of c.flags) {
        if (shell === "fish") {
          assert.match(text, new RegExp(`__nsbox_options ${c.name}' -l ${f.name}\\b`), `fish: ${c.name} --${f.name}`);
          if (f.short) assert.match(text, new RegExp(`-l ${f.name} -s ${f.short}\\b`), `fish: -${f.short}`);
        } else {
          for (const s of flagSpellings(f)) assert.ok(text.includes(s), `${shell}: ${c.name} ${s}`);
        }
      }
    }
  }
});

Deno.test("completions: the zsh and fish scripts encode values, optional values and operands from the table", () => {
  const zsh = zshCompletion();
  assert.match(zsh, /^#compdef nsbox$/m);
  assert.match(
    zsh,
    /'\*--share=\[keep the host'\\''s namespace[^\]]*\]:NS\[,NS\.\.\.\]:_sequence compadd - net ipc uts pid'/,
  );
  // the value only after '=', for the flag and its alias
  assert.match(zsh, /\{--net=-,--network=-\}'\[[^\]]*\]::MODE:\(pasta slirp4netns host\)'/);
  assert.match(zsh, /'\(--signal -s\)'\{--signal=,-s\+\}'\[[^']*\]:SIGNAL:\(HUP INT QUIT/);
  assert.match(zsh, /'\*'\{--bind=,--volume=,-v\+\}'\[.*\]:SRC\[\\:DST\[\\:ro\|\\:rw\]\]:_files'/);
  assert.match(zsh, /'1:sandbox:_nsbox_sandboxes running' \\\n\s+'\*::command:_nsbox_command'/); // exec
  assert.match(zsh, /'1:shell:\(bash zsh fish\)'/);
  const fish = fishCompletion();
  assert.match(fish, /-l share -x -a '\(__nsbox_list net ipc uts pid\)'/);
  assert.match(fish, /-l net -a 'pasta slirp4netns host'/); // no -r: only --net=MODE
  assert.match(fish, /-l rootfs -x -a '\(__fish_complete_directories\)'/);
  assert.match(fish, /__nsbox_operand kill sandbox' -f -a '\(__nsbox_sandboxes running\)'/);
  assert.match(fish, /__nsbox_operand logs sandbox' -f -a '\(__nsbox_sandboxes all\)'/);
});

Deno.test("completions: bash, zsh and fish accept their scripts (bash -n, zsh -n, fish -n)", async (t) => {
  const scripts: Record<string, string> = { bash: bashCompletion(), zsh: zshCompletion(), fish: fishCompletion() };
  for (const shell of SHELLS) {
    await t.step({
      name: shell,
      ignore: !hasProgram(shell),
      fn: async () => {
        const child = new Deno.Command(shell, { args: ["-n"], stdin: "piped", stdout: "piped", stderr: "piped" })
          .spawn();
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(scripts[shell]));
        await w.close();
        const out = await child.output();
        assert.equal(out.code, 0, dec.decode(out.stderr));
      },
    });
  }
});

Deno.test("completions bash: commands, flags, and values by kind (namespaces, not 2889 commands, after --share)", async () => {
  const { dir, bin } = fixture();
  try {
    await valuesByKind(bin);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

async function valuesByKind(bin: string) {
  const [cmds, flags, share, shareEq, shareList, netEq, netSl, netSpace, signal, caps, mem, shells, env, unset] =
    await bash(bashCompletion(), [
      "nsbox ",
      "nsbox run --ro",
      "nsbox run --share ",
      "nsbox run --share=i",
      "nsbox run --share net,",
      "nsbox run --net=",
      "nsbox run --net=sl",
      "nsbox run --net zzcmd-nsbox",
      "nsbox kill -s T",
      "nsbox run --cap-add NET_",
      "nsbox run --mem ",
      "nsbox completions ",
      "nsbox run --setenv ZZ_NSBOX_T",
      "nsbox exec --unsetenv ZZ_NSBOX_T",
    ], { PATH: `${bin}:/usr/bin:/bin`, ZZ_NSBOX_TEST: "1" });
  assert.deepEqual(cmds, [...COMMANDS.map((c) => c.name), "--help"]);
  assert.deepEqual(flags!.sort(), ["--ro-bind", "--ro-bind-try", "--root", "--rootfs"]);
  assert.deepEqual(share, [...SHAREABLE_NAMESPACES]);
  assert.deepEqual(shareEq, ["ipc"]); // readline replaces what follows '='
  assert.deepEqual(shareList, ["net,ipc", "net,uts", "net,pid"]);
  assert.deepEqual(netEq, ["pasta", "slirp4netns", "host"]);
  assert.deepEqual(netSl, ["slirp4netns"]);
  assert.deepEqual(netSpace, ["zzcmd-nsbox-test"]); // --net takes no next word: that is the command
  assert.deepEqual(signal!.sort(), ["TERM", "TRAP", "TSTP", "TTIN", "TTOU"]);
  assert.deepEqual(caps!.sort(), ["NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW"]);
  assert.deepEqual(mem, []);
  assert.deepEqual(shells, ["bash", "zsh", "fish"]);
  assert.deepEqual(env, ["ZZ_NSBOX_TEST="]);
  assert.deepEqual(unset, ["ZZ_NSBOX_TEST"]);
}

Deno.test("completions bash: paths for path flags, directories for DIR, the command then its files", async () => {
  const { dir, bin } = fixture();
  try {
    const [bind, bindDst, rootfs, seccomp, cmd, afterName, afterDashes, args, asPath] = await bash(bashCompletion(), [
      `nsbox run --bind ${dir}/`,
      `nsbox run --bind /tmp:${dir}/f`,
      `nsbox run --rootfs ${dir}/`,
      `nsbox run --seccomp=${dir}/f`,
      "nsbox run zzcmd-nsbox",
      "nsbox run --name x --hostname y zzcmd-nsbox",
      "nsbox run --root -- zzcmd",
      `nsbox run -- zzcmd-nsbox-test ${dir}/o`,
      `nsbox run ${dir}/bin/zz`,
    ], { PATH: `${bin}:/usr/bin:/bin` });
    assert.deepEqual(bind!.sort(), [`${dir}/bin`, `${dir}/file.json`, `${dir}/other.txt`, `${dir}/sub`]);
    assert.deepEqual(bindDst, [`${dir}/file.json`]); // the part after ':'
    assert.deepEqual(rootfs!.sort(), [`${dir}/bin`, `${dir}/sub`]);
    assert.deepEqual(seccomp, [`${dir}/file.json`]);
    assert.deepEqual(cmd, ["zzcmd-nsbox-test"]);
    assert.deepEqual(afterName, ["zzcmd-nsbox-test"]); // the values of --name and --hostname are skipped
    assert.deepEqual(afterDashes, ["zzcmd-nsbox-test"]);
    assert.deepEqual(args, [`${dir}/other.txt`]);
    assert.deepEqual(asPath, [`${dir}/bin/zzcmd-nsbox-test`]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("completions bash: sandbox names from `nsbox ps -q` for exec, kill, logs, rm (ended ones for logs, rm)", async () => {
  const { dir, bin, log } = fixture();
  try {
    const [exec, execCmd, kill, kill2, logs, logs2, rm] = await bash(bashCompletion(), [
      "nsbox exec w",
      "nsbox exec web zzcmd",
      "nsbox kill -s KILL ",
      "nsbox kill web w",
      "nsbox logs ",
      "nsbox logs web ",
      "nsbox rm e",
    ], { PATH: `${bin}:/usr/bin:/bin` });
    assert.deepEqual(exec, ["web", "worker"]);
    assert.deepEqual(execCmd, ["zzcmd-nsbox-test"]);
    assert.deepEqual(kill, ["web", "worker"]);
    assert.deepEqual(kill2, ["web", "worker"]); // kill takes many
    assert.deepEqual(logs, ["web", "worker", "ended"]);
    assert.deepEqual(logs2, []); // logs takes one
    assert.deepEqual(rm, ["ended"]);
    assert.deepEqual(Deno.readTextFileSync(log).trim().split("\n"), [
      "ps -q",
      "ps -q",
      "ps -q",
      "ps -q -a",
      "ps -q -a",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("completions: a flag added to the table later is completed by its placeholder, in every shell", async () => {
  const fake: CommandDef = {
    name: "frob",
    usage: "nsbox frob",
    summary: "a command that does not exist",
    description: "",
    exits: "",
    operands: { command: true },
    flags: [
      { name: "env-file", value: "FILE", repeatable: true, group: "g", help: "read variables from FILE" },
      { name: "colour", value: "WHEN", group: "g", help: "free text" },
      { name: "quiet", short: "q", group: "g", help: "a boolean" },
    ],
    examples: [],
  };
  const { dir, bin } = fixture();
  try {
    const [flags, file, text, cmd] = await bash(bashCompletion([fake]), [
      "nsbox frob --",
      `nsbox frob --env-file ${dir}/f`,
      "nsbox frob --colour ",
      "nsbox frob -q --colour x zzcmd",
    ], { PATH: `${bin}:/usr/bin:/bin` });
    assert.deepEqual(flags!.sort(), ["--colour", "--env-file", "--quiet"]);
    assert.deepEqual(file, [`${dir}/file.json`]);
    assert.deepEqual(text, []);
    assert.deepEqual(cmd, ["zzcmd-nsbox-test"]);
    assert.match(zshCompletion([fake]), /'\*--env-file=\[read variables from FILE\]:FILE:_files'/);
    assert.match(fishCompletion([fake]), /-l env-file -r -F -d 'read variables from FILE'/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "completions fish: complete -C offers what the table says",
  ignore: !hasProgram("fish"),
  fn: async () => {
    const { dir, bin } = fixture();
    try {
      Deno.writeTextFileSync(`${dir}/nsbox.fish`, fishCompletion());
      const lines = [
        "nsbox ",
        "nsbox run --share ",
        "nsbox run --share=net,",
        "nsbox run --net=",
        "nsbox kill -s T",
        `nsbox run --rootfs ${dir}/`,
        "nsbox run --net zzcmd-nsbox",
        `nsbox run -- zzcmd-nsbox-test ${dir}/o`,
        "nsbox kill ",
        "nsbox logs ",
        "nsbox exec web zzcmd",
        "nsbox run --mem ",
      ];
      const script = `source ${dir}/nsbox.fish\n` +
        lines.map((l) => `complete -C '${l}' | string replace -r '\\t.*' ''; echo @@`).join("\n");
      const out = await new Deno.Command("fish", {
        args: ["--no-config", "-c", script],
        env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir },
      }).output();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      const g = dec.decode(out.stdout).split("@@\n").map((x) => x.split("\n").filter(Boolean).sort());
      assert.deepEqual(g[0], COMMANDS.map((c) => c.name).sort());
      assert.deepEqual(g[1], [...SHAREABLE_NAMESPACES].sort());
      assert.deepEqual(g[2], ["--share=net,ipc", "--share=net,pid", "--share=net,uts"]);
      assert.deepEqual(g[3], ["--net=host", "--net=pasta", "--net=slirp4netns"]);
      assert.deepEqual(g[4], ["TERM", "TRAP", "TSTP", "TTIN", "TTOU"]);
      assert.deepEqual(g[5], [`${dir}/bin/`, `${dir}/sub/`]);
      assert.deepEqual(g[6], ["zzcmd-nsbox-test"]);
      assert.deepEqual(g[7], [`${dir}/other.txt`]);
      assert.deepEqual(g[8], ["web", "worker"]);
      assert.deepEqual(g[9], ["ended", "web", "worker"]);
      assert.deepEqual(g[10], ["zzcmd-nsbox-test"]);
      assert.deepEqual(g[11], []);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** Types each line and TAB into an interactive zsh (zsh/zpty) with the script loaded; returns what it listed. */
async function zsh(script: string, lines: string[], bin: string, dir: string): Promise<string[]> {
  Deno.writeTextFileSync(`${dir}/_nsbox.zsh`, script);
  const driver = `
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1=''; PATH=${bin}:/usr/bin:/bin; autoload -Uz compinit; compinit -u -D; source ${dir}/_nsbox.zsh"
zpty -w z "zstyle ':completion:*' list-prompt ''; LISTMAX=10000; unsetopt beep listambiguous"
# read until nothing more comes for $1 tenths of a second
drain() { local out all=""; local -i n=0; while (( n < $1 )); do if zpty -r -t z out; then all+=$out; n=0; else sleep 0.1; (( n++ )); fi; done; REPLY=$all; }
drain 10
for line in "$@"; do
  zpty -w -n z "$line"$'\\t'
  drain 6
  print -r -- "$REPLY" | tr -d '\\r' | sed 's/\\x1b\\[[0-9;?]*[a-zA-Z]//g'
  print -r -- "@@"
  zpty -w -n z $'\\C-c'
  drain 3
done
zpty -d z
`;
  const out = await new Deno.Command("zsh", { args: ["-f", "-c", driver, "zsh", ...lines], env: { HOME: dir } })
    .output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return dec.decode(out.stdout).split("@@\n");
}

Deno.test({
  name: "completions zsh: an interactive zsh completes values, operands and sandbox names from the table",
  ignore: !hasProgram("zsh"),
  fn: async () => {
    const { dir, bin } = fixture();
    try {
      const [share, signal, net, flags, shells, kill, logs, command] = await zsh(
        zshCompletion(),
        [
          "nsbox run --share ",
          "nsbox kill -s T",
          "nsbox run --net=",
          "nsbox run --ro",
          "nsbox completions ",
          "nsbox kill ",
          "nsbox logs e",
          "nsbox run --root -- zzcmd-nsbox",
        ],
        bin,
        dir,
      );
      assert.match(share!, /ipc\s+net\s+pid\s+uts/);
      assert.match(signal!, /TERM\s+TRAP\s+TSTP\s+TTIN\s+TTOU/);
      assert.match(net!, /host\s+pasta\s+slirp4netns/);
      assert.match(flags!, /--ro-bind\s+-- bind host path SRC at DST, read-only/);
      assert.match(flags!, /--rootfs\s+-- use host directory DIR/);
      assert.match(shells!, /bash\s+fish\s+zsh/);
      assert.match(kill!, /web\s+worker/);
      assert.match(logs!, /nsbox logs ended/); // ended ones too, the only match: inserted
      assert.match(command!, /nsbox run --root -- zzcmd-nsbox-test/); // the only match, inserted
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
