/**
 * `--hide PATH`: a hidden directory appears empty and a hidden file empty, under the root and under every
 * bind that shows them; a bind from inside one is refused; a missing one is ignored.
 *
 * @module
 */
import assert from "node:assert/strict";
import { nsbox, sandboxSh } from "./_harness.ts";

const HOME = Deno.env.get("HOME") ?? "";
/** The test user's home is visible through the sandbox's read-only root (it is not under /tmp). */
const NO_HOME = !HOME.startsWith("/home/");

/** A directory in the home with `secret/key`, `token` (a file) and `pub/readme`, removed at the end. */
async function tree(): Promise<AsyncDisposable & { path: string; name: string }> {
  const path = await Deno.makeTempDir({ dir: HOME, prefix: ".nsbox-hide-" });
  await Deno.mkdir(`${path}/secret`);
  await Deno.writeTextFile(`${path}/secret/key`, "PRIVATE KEY\n");
  await Deno.writeTextFile(`${path}/token`, "TOKEN\n");
  await Deno.mkdir(`${path}/pub`);
  await Deno.writeTextFile(`${path}/pub/readme`, "public\n");
  return {
    path,
    name: path.slice(HOME.length + 1),
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** What a sandbox sees of a hidden directory D and a hidden file F: `ls -A D`, `cat F`, its size and a write. */
const LOOK = (d: string, f: string) =>
  `printf 'ls=[%s]\\n' "$(ls -A ${d})"; printf 'cat=[%s]\\n' "$(cat ${f})"; ` +
  `printf 'size=%s type=%s\\n' "$(stat -c %s ${f})" "$(stat -c %F ${f})"; ` +
  `(echo x > ${f}) 2>/dev/null && echo wrote || echo refused; (touch ${d}/new) 2>/dev/null && echo made || echo refused`;

const EMPTY = "ls=[]\ncat=[]\nsize=0 type=regular empty file\nrefused\nrefused\n";

Deno.test({
  name: "--hide: a directory appears empty and a file empty under the root; the rest stays",
  ignore: NO_HOME,
}, async () => {
  await using t = await tree();
  const r = await sandboxSh(`${LOOK(`${t.path}/secret`, `${t.path}/token`)}; cat ${t.path}/pub/readme`, [
    "--hide",
    `${t.path}/secret`,
    "--hide",
    `${t.path}/token`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, EMPTY + "public\n");
});

Deno.test(
  { name: "--hide: ~ is the home, and a bind of a parent shows it empty too (--bind ~:/h)", ignore: NO_HOME },
  async () => {
    await using t = await tree();
    const r = await sandboxSh(
      `${LOOK(`/tmp/h/${t.name}/secret`, `/tmp/h/${t.name}/token`)}; ${
        LOOK(`${t.path}/secret`, `${t.path}/token`)
      }; cat /tmp/h/${t.name}/pub/readme`,
      [
        "--bind",
        `${HOME}:/tmp/h`,
        "--hide",
        `~/${t.name}/secret`,
        "--hide",
        `~/${t.name}/token`,
      ],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EMPTY + EMPTY + "public\n");
  },
);

Deno.test(
  { name: "--hide: a hidden directory under a writable bind stays empty and read-only", ignore: NO_HOME },
  async () => {
    await using t = await tree();
    const r = await sandboxSh(
      `${LOOK("/tmp/w/secret", "/tmp/w/token")}; echo ok > /tmp/w/pub/new && cat /tmp/w/pub/new`,
      [
        "--bind",
        `${t.path}:/tmp/w`,
        "--hide",
        `${t.path}/secret`,
        "--hide",
        `${t.path}/token`,
      ],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EMPTY + "ok\n");
    // the originals are untouched
    assert.equal(await Deno.readTextFile(`${t.path}/secret/key`), "PRIVATE KEY\n");
    assert.equal(await Deno.readTextFile(`${t.path}/token`), "TOKEN\n");
  },
);

Deno.test(
  { name: "--hide: a bind whose source lies inside a hidden path is refused (125, one line)", ignore: NO_HOME },
  async () => {
    await using t = await tree();
    const real = await Deno.realPath(t.path);
    const r = await nsbox(["run", "--ro-bind", `${t.path}/secret:/k`, "--hide", `${t.path}/secret`, "--", "true"]);
    assert.equal(r.code, 125);
    assert.equal(
      r.stderr,
      `nsbox: --ro-bind: '${real}/secret' is inside the hidden path ${real}/secret (--hide).\n`,
    );
  },
);

Deno.test({ name: "--hide: a path that does not exist is ignored", ignore: NO_HOME }, async () => {
  await using t = await tree();
  const r = await sandboxSh(`cat ${t.path}/token`, ["--hide", `${t.path}/nothing-here`, "--hide", "/no/such/path"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "TOKEN\n");
});
