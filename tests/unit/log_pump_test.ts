import assert from "node:assert/strict";
import { cString, getLibc } from "../../ffi/libc.ts";
import { keptFrom, resumeOffset, rotate } from "../../src/supervise/log_pump.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("keptFrom() keeps the newest half, from the first line start in it", () => {
  const text = bytes("aaaa\nbbbb\ncccc\ndddd\n"); // 20 bytes: the half starts at 10, a line start
  const read = (o: number, l: number) => text.subarray(o, o + l);
  assert.equal(keptFrom(text.length, read), 15); // the first newline in "cccc\ndddd\n" ends "cccc"
  const noLines = bytes("x".repeat(21));
  assert.equal(keptFrom(noLines.length, (o, l) => noLines.subarray(o, o + l)), 11); // no line start: the half
  assert.equal(keptFrom(1, (o, l) => bytes("z").subarray(o, o + l)), 1); // floor(1/2) = 0 bytes kept
});

Deno.test("rotate() keeps the newest half; a reader of the old file goes on where it was in the new one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/log`;
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join("");
    Deno.writeTextFileSync(path, lines);
    const reader = Deno.openSync(path);
    const fd = getLibc().open(cString(path), 0o2001 | 0o2000000, 0o600); // O_WRONLY|O_APPEND|O_CLOEXEC
    const next = rotate(path, fd, false);
    getLibc().write(next, bytes("after\n"), 6n);
    getLibc().close(next);
    const kept = Deno.readTextFileSync(path);
    assert.ok(kept.length <= lines.length / 2 + 6, kept);
    assert.ok(lines.endsWith(kept.slice(0, -6)) && kept.endsWith("line 99\nafter\n"), kept);
    assert.match(kept, /^line \d+\n/, "the kept part starts at a line start");
    const newFile = Deno.openSync(path);
    const at = resumeOffset(reader, lines.length, newFile);
    assert.equal(Deno.readTextFileSync(path).slice(at), "after\n");
    // a file that does not start with what the rotation kept (replaced again): from its start
    Deno.writeTextFileSync(`${dir}/other`, "something else\n");
    const other = Deno.openSync(`${dir}/other`);
    assert.equal(resumeOffset(reader, lines.length, other), 0);
    for (const f of [reader, newFile, other]) f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
