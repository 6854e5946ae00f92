/** `deno task soak` (scripts/soak.ts): its counts, and the section of docs/benchmarks.md it writes. */
import assert from "node:assert/strict";
import { parseSoakArgs, renderSoak } from "../../scripts/soak.ts";

Deno.test("soak: the counts default to the issue's, and are taken as --flag N or --flag=N", () => {
  assert.deepEqual(parseSoakArgs([]), { concurrent: 100, detached: 20, runs: 2000, write: true, help: false });
  assert.deepEqual(parseSoakArgs(["--runs", "50", "--concurrent=7", "--no-write"]), {
    concurrent: 7,
    detached: 20,
    runs: 50,
    write: false,
    help: false,
  });
  assert.throws(() => parseSoakArgs(["--runs", "0"]), /^Error: --runs: expected a positive count, got '0'$/);
  assert.throws(() => parseSoakArgs(["--detached"]), /--detached: expected a positive count, got ''/);
  assert.throws(() => parseSoakArgs(["--nope"]), /unknown argument '--nope'/);
});

Deno.test("soak: the section shows each case's figures and the long run's growth", () => {
  const results = [
    { case: "concurrent", runs: 100, failures: 0, leftovers: 0, wallMs: 12_345 },
    { case: "detached", sandboxes: 20, commands: 321, psRuns: 17, failures: 2, leftovers: 0, wallMs: 4_000 },
    {
      case: "long-cli",
      runs: 2000,
      failures: 0,
      leftovers: 1,
      wallMs: 90_000,
      msPerRun: 45,
      warmUp: 20,
      first: { fds: 20, mounts: 30, rssKiB: 70_000 },
      mid: { fds: 20, mounts: 30, rssKiB: 74_000 },
      last: { fds: 20, mounts: 30, rssKiB: 75_000 },
      growth: { fds: 0, mounts: 0, rssKiB: 5_000 },
      lateGrowth: { fds: 0, mounts: 0, rssKiB: 1_000 },
      rssToleranceKiB: 8192,
      heapToleranceKiB: 512,
    },
  ];
  const text = renderSoak(results, { concurrent: 100, detached: 20, runs: 2000 }, {
    date: "2026-01-01T00:00:00Z",
    revision: "abc1234",
    nproc: 2,
    status: 1,
    wallMs: 110_000,
  });
  assert.match(text, /^## Soak\n/);
  assert.match(text, /\*\*the tests failed \(exit 1\)\*\*, 110\.0 s in all/);
  assert.match(text, /--concurrent 100 --detached 20 --runs 2000/);
  assert.match(text, /\| `nsbox run` at once, each checked for its own output \| 100 \| 100 \| 0 \| 0 \| 12\.3 s \|/);
  assert.match(text, /\(17 times\), `rm` \| 20 \| 321 \| 2 \| 0 \| 4\.0 s \|/);
  assert.match(
    text,
    /\| in a row from one process, `nsbox run` \(45 ms each\) \| 2000 \| 2000 \| 0 \| 1 \| 90\.0 s \|/,
  );
  assert.match(text, /\| in a row, mod\.ts `run\(\)` \| not run \|/);
  assert.match(text, /with `nsbox run`, sampled after 20 runs/);
  assert.match(
    text,
    /\| resident memory of the process starting the sandboxes, KiB \| 70000 \| 74000 \| 75000 \| 5000 \| 1000 \| 2nd half ≤ 8192 \|/,
  );
  assert.match(text, /\| lines of the host's \/proc\/self\/mountinfo \| 30 \| 30 \| 30 \| 0 \| 0 \| ≤ 0 \|/);
  assert.match(text, /\| their open descriptors \| \? \| \? \| \? \| \? \| \? \| ≤ 0 \|/);
  assert.equal(text.match(/^Resources over/gm)?.length, 1, "one table: the library's run is missing");
});

Deno.test("soak: a case that did not run is said so", () => {
  const text = renderSoak([], { concurrent: 1, detached: 1, runs: 1 }, {
    date: "d",
    revision: "r",
    nproc: 1,
    status: 0,
    wallMs: 0,
  });
  assert.match(text, /every case passed/);
  assert.equal(text.match(/\| not run \|/g)?.length, 4);
  assert.doesNotMatch(text, /Resources over/);
});
