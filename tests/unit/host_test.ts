/**
 * The real host's facts that validation reads from the file system.
 *
 * @module
 */
import assert from "node:assert/strict";
import { realHost, realPathOrNull } from "../../src/spec/host.ts";

async function withTemp(fn: (dir: string) => void | Promise<void>) {
  const dir = Deno.realPathSync(await Deno.makeTempDir({ prefix: "nsbox-host-test-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("realPathOrNull() resolves like Deno.realPathSync and is null where that throws", async () => {
  await withTemp((dir) => {
    Deno.mkdirSync(`${dir}/a/b`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/a/f`, "");
    Deno.symlinkSync(`${dir}/a`, `${dir}/link`);
    Deno.symlinkSync("a/b/../f", `${dir}/rel`);
    Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling`);
    for (const p of ["a", "a/b", "a/f", "link", "link/b/..", "rel", "./a//b/"]) {
      assert.equal(realPathOrNull(`${dir}/${p}`), Deno.realPathSync(`${dir}/${p}`), p);
    }
    for (const p of ["missing", "a/missing", "a/f/x", "dangling"]) {
      assert.throws(() => Deno.realPathSync(`${dir}/${p}`));
      assert.equal(realPathOrNull(`${dir}/${p}`), null, p);
    }
    assert.equal(realPathOrNull(`${dir}/a\0b`), null);
  });
});

Deno.test("realHost().privateDirs lists nsbox's own directories that exist, canonical, and none that do not", async () => {
  await withTemp((dir) => {
    const saved = Deno.env.toObject();
    try {
      Deno.mkdirSync(`${dir}/run/nsbox`, { recursive: true });
      Deno.mkdirSync(`${dir}/real-config/nsbox`, { recursive: true });
      Deno.symlinkSync(`${dir}/real-config`, `${dir}/config`);
      Deno.env.set("XDG_RUNTIME_DIR", `${dir}/run`);
      Deno.env.set("XDG_CONFIG_HOME", `${dir}/config`);
      Deno.env.set("XDG_CACHE_HOME", `${dir}/cache`); // no such directory
      const dirs = realHost().privateDirs;
      assert.ok(dirs.includes(`${dir}/run/nsbox`));
      assert.ok(dirs.includes(`${dir}/real-config/nsbox`));
      assert.ok(!dirs.some((d) => d.startsWith(`${dir}/cache`) || d.startsWith(`${dir}/config/`)));
    } finally {
      for (const k of ["XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"]) {
        if (saved[k] === undefined) Deno.env.delete(k);
        else Deno.env.set(k, saved[k]);
      }
    }
  });
});
