/**
 * Escape attempts through the way nsbox assembles the sandbox's mounts:
 * symlinks planted (by an earlier run) where a later run mounts something,
 * setuid programs and device nodes in bound directories, tmpfs mounts that
 * fill the host's memory, and the records of other sandboxes.
 */
import assert from "node:assert/strict";
import { homeDir, hostHas, lines, nsbox, PROBE, sandboxSh, startNsbox, storeRoot, visibleHome } from "./_lib.ts";

const NO_HOME = visibleHome() === null;

/** The mount options (field 6) of the mount at `mountPoint` in a mountinfo text, the last one if stacked. */
function mountOptions(mountinfo: string, mountPoint: string): string[] {
  const rows = lines(mountinfo).map((l) => l.split(" ")).filter((f) => f[4] === mountPoint);
  assert.ok(rows.length > 0, `no mount on ${mountPoint} in\n${mountinfo}`);
  return rows.at(-1)![5]!.split(",");
}

Deno.test({
  name: "escape: a symlink planted in a bound directory cannot steer --tmpfs or --ro-bind onto the host (made inside)",
  ignore: NO_HOME,
}, async () => {
  await using proj = await homeDir();
  await using victim = await homeDir(); // outside every bind: must stay empty
  await Deno.writeTextFile(`${proj.path}/file`, "x\n");
  // An earlier run plants the links inside its writable bind: absolute ones
  // naming the host's tree as it sits under /oldroot while a sandbox is
  // assembled (and as it is), and a relative one climbing out.
  const up = "../".repeat(proj.path.split("/").length + 2);
  const plant = await sandboxSh(
    `ln -s /oldroot${victim.path} cache && ln -s ${victim.path} abs && ln -s ${up}oldroot${victim.path} rel`,
    ["--bind", proj.path, "--chdir", proj.path],
  );
  assert.equal(plant.code, 0, plant.stderr);
  const planted = ["abs", "cache", "file", "rel"];
  assert.deepEqual([...Deno.readDirSync(proj.path)].map((e) => e.name).sort(), planted);
  for (const link of ["cache", "rel"]) {
    // The links resolve inside the sandbox, where /oldroot does not exist: the mount
    // points are made there, in a read-only copy of the sandbox's /, never on the host.
    const r = await sandboxSh(
      `stat -f -c %T ${proj.path}/${link}/X; cat ${proj.path}/${link}/Y; ls -A /oldroot${victim.path} | tr '\\n' ' '`,
      [
        "--bind",
        proj.path,
        "--tmpfs",
        `${proj.path}/${link}/X`,
        "--ro-bind",
        `${proj.path}/file:${proj.path}/${link}/Y`,
      ],
    );
    assert.equal(r.code, 0, `${link}: ${r.stderr}`);
    assert.equal(r.stdout, "tmpfs\nx\nX Y ", link);
    assert.deepEqual([...Deno.readDirSync(victim.path)], [], `${link}: made something on the host`);
    assert.ok(!hostHas(`/oldroot`), `${link}: made /oldroot on the host`);
  }
  // A symlink to a path that exists inside the sandbox too resolves inside it: the mount lands in the sandbox.
  const r = await sandboxSh(
    `stat -f -c %T ${proj.path}/abs/Z && test -z "$(ls -A ${proj.path}/abs/Z)" && echo inside`,
    ["--bind", proj.path, "--bind", victim.path, "--tmpfs", `${proj.path}/abs/Z`],
  );
  assert.equal(r.stdout, "tmpfs\ninside\n", r.stderr);
  // it was not created in the bound (writable) victim directory on the host: in a copy of it inside the sandbox
  assert.deepEqual([...Deno.readDirSync(victim.path)], []);
  assert.deepEqual([...Deno.readDirSync(proj.path)].map((e) => e.name).sort(), planted);
});

Deno.test({
  name: "escape: a --rootfs whose /var is a symlink out of it cannot make directories on the host (made inside)",
  ignore: NO_HOME,
}, async () => {
  await using rootfs = await homeDir();
  await using victim = await homeDir();
  await using src = await homeDir();
  for (const d of ["proc", "dev", "tmp"]) await Deno.mkdir(`${rootfs.path}/${d}`);
  // where the host's tree sits while a sandbox is assembled, and where it is
  await Deno.symlink(`/oldroot${victim.path}`, `${rootfs.path}/var`);
  await Deno.symlink(victim.path, `${rootfs.path}/srv`);
  const names = [...Deno.readDirSync(rootfs.path)].map((e) => e.name).sort();
  for (const dst of ["/var/lib/x", "/srv/lib/x"]) {
    const r = await nsbox(["run", "--rootfs", rootfs.path, "--bind", `${src.path}:${dst}`, "--", "/x"]);
    // set up inside the rootfs's own tree; then /x is not found there
    assert.equal(r.code, 127, r.stderr);
    assert.deepEqual([...Deno.readDirSync(victim.path)], [], `${dst}: made something on the host`);
    assert.deepEqual([...Deno.readDirSync(rootfs.path)].map((e) => e.name).sort(), names, `${dst}: changed the rootfs`);
  }
});

Deno.test({
  name:
    "escape: a symlink in a copied parent is recreated as that symlink, never followed to create outside (--root too)",
  ignore: NO_HOME,
}, async () => {
  await using parent = await homeDir();
  await using victim = await homeDir(); // where the planted links lead on the host
  await using src = await homeDir();
  const P = parent.path;
  await Deno.symlink(victim.path, `${P}/out`);
  await Deno.symlink(`/oldroot${victim.path}`, `${P}/staging`);
  await Deno.symlink("../".repeat(P.split("/").length + 1) + victim.path.slice(1), `${P}/up`);
  const before = [...Deno.readDirSync(P)].map((e) => e.name).sort();
  const script = [
    `for l in out staging up; do test -L ${P}/$l && readlink ${P}/$l; done`,
    `ls -A ${victim.path} | tr '\\n' ' '; echo`,
    `touch ${P}/planted 2>&1; touch ${P}/out/planted 2>&1; true`,
  ].join("; ");
  // P/new is missing: P is copied with its links; P/out/new2 goes through the link, inside the sandbox
  const flags = ["--bind", `${src.path}:${P}/new`, "--bind", `${src.path}:${P}/out/new2`];
  const [user, root] = await Promise.all([sandboxSh(script, flags), sandboxSh(script, ["--root", ...flags])]);
  for (const r of [user, root]) {
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.deepEqual(out.slice(0, 4), [
      victim.path,
      `/oldroot${victim.path}`,
      "../".repeat(P.split("/").length + 1) + victim.path.slice(1),
      "new2 ",
    ]);
    assert.match(out[4]!, /Read-only file system/);
    assert.match(out[5]!, /Read-only file system/);
  }
  assert.deepEqual([...Deno.readDirSync(victim.path)], [], "made something in the links' target on the host");
  assert.deepEqual(
    [...Deno.readDirSync(P)].map((e) => e.name).sort(),
    before,
    "made something in the parent on the host",
  );
  assert.ok(!hostHas("/oldroot"));
});

Deno.test({
  name: "escape: the root, --rootfs, binds and tmpfs mounts are nosuid,nodev (setuid bits and device nodes do nothing)",
  ignore: NO_HOME,
}, async () => {
  await using rw = await homeDir();
  await using ro = await homeDir();
  await using scratch = await homeDir();
  await using root = await homeDir();
  const script = "cat /proc/self/mountinfo";
  const r = await sandboxSh(script, ["--bind", rw.path, "--ro-bind", ro.path, "--tmpfs", scratch.path]);
  assert.equal(r.code, 0, r.stderr);
  for (const m of ["/", rw.path, ro.path, scratch.path, "/tmp", "/var/tmp", "/run", "/dev/shm"]) {
    const opts = mountOptions(r.stdout, m);
    assert.ok(opts.includes("nosuid") && opts.includes("nodev"), `${m}: ${opts}`);
  }
  assert.ok(mountOptions(r.stdout, ro.path).includes("ro"));
  assert.ok(mountOptions(r.stdout, rw.path).includes("rw"));
  // the devices of the minimal /dev keep working (no nodev there)
  const dev = await sandboxSh("head -c 4 /dev/zero | od -An -tx1 && echo x > /dev/null && echo ok");
  assert.equal(dev.stdout.trim().split("\n").at(-1), "ok", dev.stderr);
  // --rootfs: the new root itself (a tree with just the static probe)
  for (const d of ["proc", "dev", "tmp"]) await Deno.mkdir(`${root.path}/${d}`, { recursive: true });
  await Deno.copyFile(PROBE, `${root.path}/probe`);
  await Deno.chmod(`${root.path}/probe`, 0o755);
  const ran = await nsbox(["run", "--rootfs", root.path, "--", "/probe"]);
  assert.equal(ran.code, 0, ran.stderr);
  const report = JSON.parse(ran.stdout);
  const top = (report.mounts as Array<{ mount_point: string; options: string }>).findLast((m) => m.mount_point === "/");
  assert.ok(top && top.options.split(",").includes("nosuid") && top.options.split(",").includes("nodev"), top?.options);
});

Deno.test({
  name:
    "escape: the sandbox's tmpfs mounts have a size: filling them stops there (ENOSPC), not at half the host's memory",
  ignore: NO_HOME,
}, async () => {
  await using small = await homeDir();
  const r = await sandboxSh(
    `cd ${small.path} && df -k /tmp /var/tmp /run /dev/shm . | tail -n +2 | awk '{print $6, $2}' | sed 's|^${small.path} |/small |'; ` +
      "head -c 3M /dev/zero > fill 2>/dev/null; echo fill=$?; ls -l fill | awk '{print $5}'; stat -c %a .",
    ["--tmpfs", `${small.path}:size=1M,mode=0700`],
  );
  assert.equal(r.code, 0, r.stderr);
  const sizes = Object.fromEntries(lines(r.stdout).filter((l) => l.startsWith("/")).map((l) => l.split(" ")));
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))![1]);
  assert.equal(sizes["/small"], "1024");
  assert.equal(sizes["/run"], "65536");
  assert.equal(sizes["/dev/shm"], "65536");
  for (const d of ["/tmp", "/var/tmp"]) {
    const kib = Number(sizes[d]);
    assert.ok(Math.abs(kib - memKiB / 4) < memKiB / 100, `${d}: ${kib} KiB of ${memKiB}`);
  }
  assert.match(r.stdout, /fill=1\n1048576\n700\n$/);
});

Deno.test({
  name: "escape: a sandbox that binds the directory holding nsbox's records sees it empty and read-only",
  ignore: NO_HOME,
}, async () => {
  await using other = await homeDir();
  const uid = Deno.uid();
  const records = storeRoot();
  const parent = records.slice(0, records.lastIndexOf("/"));
  await using running = startNsbox(["run", "--name", `rec-${uid}`, "--", "sh", "-c", "echo up; sleep 30"]);
  await running.waitForStdout("up\n");
  for (let i = 0; i < 300 && !hostHas(`${records}/rec-${uid}/state.json`); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(hostHas(`${records}/rec-${uid}/state.json`), "the named sandbox has no record");
  const r = await sandboxSh(
    `ls -A ${records} | wc -l; touch ${records}/x 2>&1 | grep -o 'Read-only file system'; ` +
      `ls -A ${other.path}${records.slice(parent.length)} | wc -l`,
    ["--bind", parent, "--bind", `${parent}:${other.path}`],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout).map((l) => l.trim()), ["0", "Read-only file system", "0"]);
  // binding a path inside it is refused up front
  const inside = await nsbox(["run", "--bind", `${records}/rec-${uid}:/x`, "--", "true"]);
  assert.equal(inside.code, 125);
  assert.match(inside.stderr, /^nsbox: --bind: '.*' is inside nsbox's own directory /m);
});

Deno.test({
  name: "escape: nsbox's configuration and cache directories are hidden under a bind of the home directory",
  ignore: NO_HOME,
}, async () => {
  const home = visibleHome()!;
  await using h = await homeDir();
  const made: string[] = [];
  for (const d of [`${home}/.config/nsbox`, `${home}/.cache/nsbox`]) {
    if (!hostHas(d)) {
      await Deno.mkdir(d, { recursive: true, mode: 0o700 });
      made.push(d);
    }
  }
  const marker = `${home}/.config/nsbox/security-test-${crypto.randomUUID()}`;
  await Deno.writeTextFile(marker, "secret\n");
  try {
    const r = await sandboxSh(
      `ls -A ${h.path}/.config/nsbox ${h.path}/.cache/nsbox $HOME/.config/nsbox | grep -c security-test; ` +
        `touch ${h.path}/.config/nsbox/planted 2>&1 | grep -o 'Read-only file system'`,
      ["--bind", `${home}:${h.path}`],
    );
    assert.deepEqual(lines(r.stdout), ["0", "Read-only file system"], r.stderr);
    assert.ok(!hostHas(`${home}/.config/nsbox/planted`));
  } finally {
    await Deno.remove(marker);
    for (const d of made) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});
