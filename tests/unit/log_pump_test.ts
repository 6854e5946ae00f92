import assert from "node:assert/strict";
import { cString, getLibc } from "../../ffi/libc.ts";
import { keptFrom, overlap, resumeOffset, rotate } from "../../src/supervise/log_pump.ts";

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

Deno.test("resumeOffset(): after two rotations between two looks, the reader goes on after what it saw, never twice", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/log`;
    const lines = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join("");
    Deno.writeTextFileSync(path, lines(0, 100));
    const reader = Deno.openSync(path); // it has read all of this
    let fd = getLibc().open(cString(path), 0o2001 | 0o2000000, 0o600);
    fd = rotate(path, fd, false);
    getLibc().write(fd, bytes(lines(100, 140)), BigInt(lines(100, 140).length));
    fd = rotate(path, fd, false);
    getLibc().close(fd);
    const now = Deno.readTextFileSync(path);
    const next = Deno.openSync(path);
    const at = resumeOffset(reader, lines(0, 100).length, next);
    const printed = lines(0, 100) + now.slice(at);
    const numbers = printed.split("\n").filter(Boolean).map((l) => Number(l.slice(5)));
    assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), "a line printed twice or out of order");
    assert.ok(printed.endsWith("line 139\n"));
    for (const f of [reader, next]) f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("overlap() finds the longest end of one text that starts the other", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(overlap(enc("aaab"), enc("abab")), 2);
  assert.equal(overlap(enc("xabab"), enc("ababz")), 4);
  assert.equal(overlap(enc("abc"), enc("")), 0);
  assert.equal(overlap(enc(""), enc("abc")), 0);
  assert.equal(overlap(enc("same"), enc("same")), 4);
});
