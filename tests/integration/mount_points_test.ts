/**
 * Missing mount points: `--bind`, `--ro-bind`, `--tmpfs` and `--rootfs` mount where nothing exists yet, through a
 * read-only tmpfs copy ("mimic") of the nearest existing parent, made inside the sandbox: nothing is created on the
 * host or in the `--rootfs` tree, the copy shows the parent's entries as they were, and is read-only.
 */
import { assert } from "./_assert.ts";
import { exists, lines, nsbox, PROBE, sandboxSh, tempDir } from "./_harness.ts";

/** The caller's home when the sandbox can see it (not under the host's /tmp, which the sandbox's own hides). */
function visibleHome(): string | null {
  const home = Deno.env.get("HOME");
  if (!home || !home.startsWith("/") || home === "/" || home.startsWith("/tmp")) return null;
  try {
    return Deno.statSync(home).isDirectory ? home : null;
  } catch {
    return null;
  }
}
const HOME = visibleHome();
const NO_HOME = HOME === null;

/** A directory in the caller's home (seen read-only through the root), with a file, a directory and a symlink. */
async function homeParent(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ dir: HOME!, prefix: ".nsbox-mimic-" });
  Deno.writeTextFileSync(`${path}/f`, "original\n");
  Deno.mkdirSync(`${path}/d`);
  Deno.writeTextFileSync(`${path}/d/inner`, "inner\n");
  Deno.symlinkSync("f", `${path}/l`);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The names in a host directory, sorted. */
function namesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Mount points and file system types of the sandbox's mounts, from /proc/self/mountinfo, as "point fstype". */
const MOUNTS = `awk '{ for (i = 7; $i != "-"; i++); print $5, $(i + 1) }' /proc/self/mountinfo`;

Deno.test("run: --bind DIR:/newdir works where / has no /newdir, and creates nothing on the host", async () => {
  await using src = await tempDir();
  Deno.writeTextFileSync(`${src.path}/file`, "bound\n");
  const dst = `/nsbox-mimic-${crypto.randomUUID().slice(0, 8)}`;
  assert.ok(!exists(dst));
  const r = await sandboxSh(
    `cat ${dst}/file; ls -A / | tr '\\n' ' '; echo; touch /x 2>&1; ${MOUNTS} | grep '^/ '; echo ok > ${dst}/w; ` +
      `awk '$5 == "/" { print $6 }' /proc/self/mountinfo | tail -1`,
    ["--bind", `${src.path}:${dst}`],
  );
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out[0], "bound");
  // the root's entries as on the host, plus the new mount point
  const hostRoot = namesIn("/");
  assert.deepEqual(out[1]!.trim().split(" ").sort(), [...hostRoot, dst.slice(1)].sort());
  assert.match(out[2]!, /Read-only file system/);
  // the copy of / is a tmpfs over the root
  assert.ok(out.includes("/ tmpfs"), r.stdout);
  // read-only, nosuid, nodev
  assert.match(out.at(-1)!, /^ro,nosuid,nodev/);
  assert.ok(!exists(dst), `${dst} was created on the host`);
  assert.equal(Deno.readTextFileSync(`${src.path}/w`), "ok\n");
});

Deno.test({
  name: "run: a deep missing mount point (/a/b/c with only /a) gets one read-only copy of /a with its entries",
  ignore: NO_HOME,
}, async () => {
  await using parent = await homeParent();
  await using src = await tempDir();
  Deno.writeTextFileSync(`${src.path}/file`, "bound\n");
  const P = parent.path;
  const before = namesIn(P);
  const r = await sandboxSh(
    [
      `cat ${P}/b/c/file`,
      `ls -A ${P} | tr '\\n' ' '; echo`,
      `ls -A ${P}/b | tr '\\n' ' '; echo`,
      `cat ${P}/f ${P}/d/inner`,
      `readlink ${P}/l`,
      `test -L ${P}/l && echo symlink`,
      `touch ${P}/new 2>&1; mkdir ${P}/b/more 2>&1`,
      `awk '$5 == "${P}" { print $6 }' /proc/self/mountinfo`,
    ].join("; "),
    ["--bind", `${src.path}:${P}/b/c`],
  );
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out[0], "bound");
  assert.deepEqual(out[1]!.trim().split(" ").sort(), [...before, "b"].sort());
  assert.equal(out[2]!.trim(), "c");
  assert.deepEqual(out.slice(3, 7), ["original", "inner", "f", "symlink"]);
  assert.match(out[7]!, /Read-only file system/);
  assert.match(out[8]!, /Read-only file system/);
  assert.deepEqual(out.slice(9), ["ro,nosuid,nodev,relatime"]);
  assert.deepEqual(namesIn(P), before, "the host's directory changed");
});

Deno.test({
  name:
    "run: two binds under one missing parent share one copy; a writable bind's entries stay writable, the bind is not",
  ignore: NO_HOME,
}, async () => {
  await using parent = await homeParent();
  await using a = await tempDir();
  await using b = await tempDir();
  Deno.writeTextFileSync(`${a.path}/fa`, "a\n");
  Deno.writeTextFileSync(`${b.path}/fb`, "b\n");
  const P = parent.path;
  const before = namesIn(P);
  // /w is the caller's writable directory: /w/m/p and /w/m/q are missing there, and must not be created on the host
  const r = await sandboxSh(
    [
      "cat /w/m/p/fa /w/m/q/fb",
      `${MOUNTS} | grep -c '^/w tmpfs$'`,
      "echo changed > /w/f && echo wrote",
      "touch /w/new 2>&1 || true",
    ].join("; "),
    ["--bind", `${P}:/w`, "--bind", `${a.path}:/w/m/p`, "--ro-bind", `${b.path}:/w/m/q`],
  );
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.deepEqual(out.slice(0, 4), ["a", "b", "1", "wrote"]);
  assert.match(out[4]!, /Read-only file system/);
  assert.deepEqual(namesIn(P), before, "created on the host");
  // the entry is the host's file, bound back, not a copy
  assert.equal(Deno.readTextFileSync(`${P}/f`), "changed\n");
});

Deno.test("run: --tmpfs at a missing path is an empty writable tmpfs, nothing made on the host", async () => {
  const dst = `/nsbox-mimic-${crypto.randomUUID().slice(0, 8)}/x`;
  const r = await sandboxSh(`ls -A ${dst} | wc -l; touch ${dst}/f && ls ${dst}`, ["--tmpfs", dst]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), ["0", "f"]);
  assert.ok(!exists(dst.slice(0, dst.lastIndexOf("/"))));
});

Deno.test("run: --rootfs without /proc, /dev, /tmp gets them in a copy of its root; the tree is untouched", async () => {
  await using dir = await tempDir();
  Deno.copyFileSync(PROBE, `${dir.path}/probe`);
  Deno.chmodSync(`${dir.path}/probe`, 0o755);
  Deno.symlinkSync("probe", `${dir.path}/link`);
  const r = await nsbox(["run", "--rootfs", dir.path, "--", "/probe"]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.root_write, "EROFS");
  const points = new Set((p.mounts as Array<{ mount_point: string }>).map((m) => m.mount_point));
  for (const d of ["/", "/proc", "/dev", "/dev/null", "/tmp", "/run", "/probe"]) assert.ok(points.has(d), d);
  assert.deepEqual(namesIn(dir.path), ["link", "probe"], "the rootfs tree changed");
});

Deno.test("run: a tiny --rootfs with the host's /usr bound in runs a shell: symlinks recreated, mount points made", async () => {
  await using dir = await tempDir();
  const links: string[] = [];
  for (const d of ["bin", "lib", "lib64", "sbin"]) {
    try {
      const target = Deno.readLinkSync(`/${d}`); // merged /usr: /bin -> usr/bin
      Deno.symlinkSync(target, `${dir.path}/${d}`);
      links.push(d);
    } catch {
      // not a symlink on this host
    }
  }
  if (!links.includes("bin")) return; // a host without merged /usr: nothing to bind /bin from
  const r = await nsbox([
    "run",
    "--rootfs",
    dir.path,
    "--ro-bind",
    "/usr:/usr",
    "--",
    "/bin/sh",
    "-c",
    "ls -A / | tr '\\n' ' '; echo; readlink /bin",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.deepEqual(out[0]!.trim().split(" ").sort(), [...links, "dev", "proc", "run", "tmp", "usr"].sort());
  assert.equal(out[1], Deno.readLinkSync("/bin"));
  assert.deepEqual(namesIn(dir.path), links.sort());
});

Deno.test({
  name: "run: a missing mount point in a directory of more than 4096 entries exits 125 naming it and the count",
  ignore: NO_HOME,
}, async () => {
  await using parent = await homeParent();
  const big = `${parent.path}/big`;
  Deno.mkdirSync(big);
  for (let i = 0; i < 4097; i++) Deno.writeTextFileSync(`${big}/${i}`, "");
  const r = await nsbox(["run", "--tmpfs", `${big}/new`, "--", "true"]);
  assert.equal(r.code, 125, r.stderr);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^nsbox: --tmpfs: .*4097 entries.*4096/);
  assert.ok(r.stderr.includes(big), r.stderr);
  assert.ok(!exists(`${big}/new`));
});
