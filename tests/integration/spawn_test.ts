/**
 * The one launch path (src/spawn): every child is a vfork-style clone that
 * execs the static nsbox-init at once; the descriptors its ops use get
 * through that exec, and no further: a helper gets exactly what it was
 * passed, at the numbers asked for (a stray copy of a pipe's write end would
 * keep its reader from ever seeing the end).
 */
import { assert } from "./_assert.ts";
import { startDaemon } from "../../src/spawn/daemon.ts";
import { getLibc } from "../../ffi/libc.ts";

Deno.test("spawn: a helper gets the descriptors passed to it at the numbers asked for, and none of nsbox's", async () => {
  const libc = getLibc();
  const fds = new Int32Array(2);
  assert.equal(libc.pipe2(new Uint8Array(fds.buffer), 0o2000000), 0);
  const [rd, wr] = [fds[0]!, fds[1]!];
  try {
    const d = await startDaemon(["sleep", "5"], { passFds: [[wr, 100]] }); // above wr: its own number is not swept
    libc.close(wr);
    try {
      const open = [...Deno.readDirSync(`/proc/${d.pid}/fd`)].map((e) => Number(e.name)).sort((a, b) => a - b);
      assert.deepEqual(open, [0, 1, 2, 100]);
    } finally {
      await d.stop(2000);
    }
    // its fd 100 was the only write end left: with it gone, the reader sees the end
    const n = await libc.read(rd, new Uint8Array(1), 1n);
    assert.equal(n, 0n, "the pipe's reader saw no end: a copy of its write end is still open somewhere");
  } finally {
    libc.close(rd);
  }
});
