/**
 * `nsbox run` identity: the caller's ids by default, uid 0 with `--root`,
 * capabilities, no_new_privs, and `--map-users`.
 */
import { assert } from "./_assert.ts";
import { lines, nsbox, probe, sandboxSh, tempDir } from "./_harness.ts";

const ZERO_CAPS = "0000000000000000";

Deno.test("run: the command runs as the caller's uid and gid by default", async () => {
  const r = await sandboxSh("id -u; id -g");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [String(Deno.uid()), String(Deno.gid())]);
});

Deno.test("run: by default every capability set is empty (bounding and ambient too), and no_new_privs is set", async () => {
  const [plain, pid1] = await Promise.all([probe(), probe(["--as-pid-1"])]);
  for (const p of [plain, pid1]) {
    assert.equal(p.uid, Deno.uid());
    assert.equal(p.euid, Deno.uid());
    assert.equal(p.gid, Deno.gid());
    assert.equal(p.egid, Deno.gid());
    assert.deepEqual(
      [p.cap_inh, p.cap_prm, p.cap_eff, p.cap_bnd, p.cap_amb],
      [ZERO_CAPS, ZERO_CAPS, ZERO_CAPS, ZERO_CAPS, ZERO_CAPS],
    );
    assert.equal(p.no_new_privs, 1);
  }
  const r = await sandboxSh("grep NoNewPrivs /proc/self/status");
  assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
});

Deno.test("run: --root makes the command uid 0 and gid 0 with the namespace's capabilities, still no_new_privs", async () => {
  const r = await sandboxSh("id -u; id -g", ["--root"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["0", "0"]);
  const p = await probe(["--root"]);
  assert.equal(p.uid, 0);
  assert.equal(p.euid, 0);
  assert.equal(p.gid, 0);
  assert.notEqual(p.cap_eff, ZERO_CAPS);
  assert.notEqual(p.cap_prm, ZERO_CAPS);
  assert.notEqual(p.cap_bnd, ZERO_CAPS);
  // CAP_SYS_ADMIN (21) is what mounting needs: it must be effective
  assert.ok((BigInt(`0x${p.cap_eff}`) >> 21n) & 1n, `CAP_SYS_ADMIN not in ${p.cap_eff}`);
  assert.equal(p.no_new_privs, 1);
});

Deno.test("run: host files of unmapped users (root's /) show as the overflow uid", async () => {
  const overflow = Deno.readTextFileSync("/proc/sys/kernel/overflowuid").trim();
  const rootUid = Deno.statSync("/").uid;
  assert.notEqual(rootUid, Deno.uid(), "the test user owns /");
  const r = await sandboxSh("stat -c %u /");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), overflow);
});

Deno.test("run: a file root inside writes to a --bind directory belongs to the caller on the host", async () => {
  await using dir = await tempDir();
  const r = await sandboxSh(`echo x > ${dir.path}/by-root && stat -c %u:%g ${dir.path}/by-root`, [
    "--root",
    "--bind",
    dir.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "0:0\n");
  const st = Deno.statSync(`${dir.path}/by-root`);
  assert.equal(st.uid, Deno.uid());
  assert.equal(st.gid, Deno.gid());
});

/** The caller's first /etc/subuid (or subgid) range. */
function subIds(file: string): { start: number; count: number } | null {
  const name = Deno.env.get("USER") ?? Deno.env.get("LOGNAME");
  let text = "";
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return null;
  }
  for (const line of lines(text)) {
    const [owner, start, count] = line.trim().split(":");
    if (owner === name || owner === String(Deno.uid())) return { start: Number(start), count: Number(count) };
  }
  return null;
}

Deno.test("run: --root --map-users maps the caller's subordinate range: 2-line maps, chown works", async () => {
  const sub = subIds("/etc/subuid");
  assert.ok(sub, "precondition: the test user needs a /etc/subuid range (scripts/test.sh adds one)");
  assert.ok(subIds("/etc/subgid"), "precondition: the test user needs a /etc/subgid range");
  await using dir = await tempDir();
  const r = await sandboxSh(
    `cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; ` +
      `touch /tmp/x && chown 1:1 /tmp/x && stat -c %u:%g /tmp/x && ` +
      `touch ${dir.path}/y && chown 1:1 ${dir.path}/y`,
    ["--root", "--map-users", "--bind", dir.path],
  );
  assert.equal(r.code, 0, r.stderr);
  const [uidMap, gidMap, rest] = r.stdout.split("--\n").map((s) => lines(s).map((l) => l.trim().split(/\s+/)));
  // the maps as seen from inside: uid 0 alone, then the subordinate range from 1
  // (what they map to depends on the namespaces between; the host side is checked below)
  assert.equal(uidMap?.length, 2, r.stdout);
  assert.equal(gidMap?.length, 2, r.stdout);
  for (const map of [uidMap!, gidMap!]) {
    assert.deepEqual([map[0]![0], map[0]![2]], ["0", "1"], r.stdout);
    assert.equal(map[1]![0], "1", r.stdout);
  }
  assert.equal(uidMap![1]![2], String(sub.count), r.stdout);
  assert.deepEqual(rest, [["1:1"]]);
  // on the host, a file chowned to 1:1 inside belongs to the first subordinate ids
  const st = Deno.statSync(`${dir.path}/y`);
  assert.equal(st.uid, sub.start);
  assert.equal(st.gid, subIds("/etc/subgid")!.start);
});

Deno.test("run: --map-users without --root keeps the caller's uid inside", async () => {
  const r = await nsbox(["run", "--map-users", "--", "sh", "-c", "id -u; wc -l < /proc/self/uid_map"]);
  assert.equal(r.code, 0, r.stderr);
  const [uid, mapLines] = lines(r.stdout);
  assert.equal(uid, String(Deno.uid()));
  assert.ok(Number(mapLines) >= 2, `uid_map has ${mapLines} lines`);
});
