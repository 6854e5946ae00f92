/**
 * Escape attempts against the filesystem: write the host's files, make the
 * read-only root or a --ro-bind writable, take /proc masks and the sandbox's
 * /proc, /dev, /tmp away, chroot out, gain root through a setuid program,
 * make device nodes.
 */
import assert from "node:assert/strict";
import {
  attack,
  HAS_PYTHON,
  hasProgram,
  homeDir,
  hostHas,
  lines,
  NEEDS_PY_X86,
  nsbox,
  PY_MOUNT,
  sandboxSh,
  tempDir,
  visibleHome,
} from "./_lib.ts";

const NO_HOME = visibleHome() === null;

Deno.test({
  name: "escape: writing the host's files outside the binds fails with EROFS (default and --root); they stay untouched",
  ignore: NEEDS_PY_X86 || NO_HOME,
}, async () => {
  await using dir = await homeDir(); // the caller's own, writable on the host
  await Deno.writeTextFile(`${dir.path}/file`, "host\n");
  const script = PY_MOUNT + `
d = "${dir.path}"
out("append own file", append(d + "/file"))
out("create in own dir", append(d + "/new"))
out("unlink own file", oserr(os.unlink, d + "/file"))
out("rename own file", oserr(os.rename, d + "/file", d + "/moved"))
out("chmod own file", oserr(os.chmod, d + "/file", 0o777))
out("truncate own file", oserr(os.truncate, d + "/file", 0))
out("append /etc/passwd", oserr(os.open, "/etc/passwd", os.O_WRONLY | os.O_APPEND))
out("create in /usr/bin", append("/usr/bin/nsbox-escape"))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = {
    "append own file": "EROFS",
    "create in own dir": "EROFS",
    "unlink own file": "EROFS",
    "rename own file": "EROFS",
    "chmod own file": "EROFS",
    "truncate own file": "EROFS",
    "append /etc/passwd": "EACCES", // the host's root owns it: unmapped, even --root has no say
    "create in /usr/bin": "EROFS",
  };
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
  assert.equal(await Deno.readTextFile(`${dir.path}/file`), "host\n");
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["file"]);
  assert.ok(!hostHas("/usr/bin/nsbox-escape"));
});

Deno.test({
  name: "escape: writing into a --ro-bind fails with EROFS; --root cannot remount it writable (EPERM)",
  ignore: NEEDS_PY_X86,
}, async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/file`, "host\n");
  const r = await attack(
    PY_MOUNT + `
d = "${dir.path}"
out("append", append(d + "/file"))
out("remount rw", mount(None, d, None, MS_REMOUNT))
out("remount bind rw", mount(None, d, None, MS_REMOUNT | MS_BIND))
out("mount_setattr", clear_ro(AT_FDCWD, d, AT_RECURSIVE))
out("append after", append(d + "/file"))
`,
    ["--root", "--ro-bind", dir.path],
  );
  assert.deepEqual(r, {
    append: "EROFS",
    "remount rw": "EPERM",
    "remount bind rw": "EPERM",
    mount_setattr: "EPERM",
    "append after": "EROFS",
  });
  assert.equal(await Deno.readTextFile(`${dir.path}/file`), "host\n");
});

Deno.test({
  name: "escape: remounting / writable fails with EPERM (default and --root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = PY_MOUNT + `
out("remount", mount(None, "/", None, MS_REMOUNT))
out("remount bind", mount(None, "/", None, MS_REMOUNT | MS_BIND))
out("mount_setattr", clear_ro(AT_FDCWD, "/", 0))
out("create /nsbox-escape", append("/nsbox-escape"))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = {
    remount: "EPERM",
    "remount bind": "EPERM",
    mount_setattr: "EPERM",
    "create /nsbox-escape": "EROFS",
  };
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
  // mount(8) says the same.
  const sh = await sandboxSh('mount -o remount,rw /; echo "rc=$?"; touch /etc/nsbox-escape', ["--root"]);
  assert.match(sh.stdout, /^rc=32$/m, sh.stderr);
  assert.match(sh.stderr, /Read-only file system/);
  assert.ok(!hostHas("/nsbox-escape") && !hostHas("/etc/nsbox-escape"));
});

Deno.test({
  name: "escape: a bind of / made by --root cannot be remounted writable (EPERM)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
os.mkdir("/tmp/m")
out("bind", mount("/", "/tmp/m", None, MS_BIND | MS_REC))
out("remount bind rw", mount(None, "/tmp/m", None, MS_REMOUNT | MS_BIND))
out("mount_setattr", clear_ro(AT_FDCWD, "/tmp/m", AT_RECURSIVE))
out("write through it", append("/tmp/m/etc/nsbox-escape"))
`,
    ["--root"],
  );
  assert.deepEqual(r, {
    bind: "ok",
    "remount bind rw": "EPERM",
    mount_setattr: "EPERM",
    "write through it": "EROFS",
  });
});

Deno.test({
  name: "escape: open_tree(OPEN_TREE_CLONE) of / cannot be made writable: mount_setattr fails with EPERM (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
libc.syscall.restype = ctypes.c_long
fd = libc.syscall(ctypes.c_long(428), ctypes.c_long(AT_FDCWD), b"/", ctypes.c_ulong(1 | AT_RECURSIVE))
out("open_tree", "ok" if fd >= 0 else ename(ctypes.get_errno()))
out("mount_setattr", clear_ro(fd, "", AT_EMPTY_PATH | AT_RECURSIVE))
os.mkdir("/tmp/m")
out("move_mount", sc(429, fd, b"", AT_FDCWD, b"/tmp/m", 4))
out("write through it", append("/tmp/m/etc/nsbox-escape"))
`,
    ["--root"],
  );
  assert.deepEqual(r, {
    open_tree: "ok",
    mount_setattr: "EPERM",
    move_mount: "ok",
    "write through it": "EROFS",
  });
});

Deno.test({
  name: "escape: a new mount namespace (unshare -m) does not unlock the sandbox's mounts (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
out("unshare", sc(272, 0x20000))
out("umount /proc/keys", umount("/proc/keys", MNT_DETACH))
out("umount /dev", umount("/dev", MNT_DETACH))
out("remount /", mount(None, "/", None, MS_REMOUNT | MS_BIND))
`,
    ["--root"],
  );
  assert.deepEqual(r, {
    unshare: "ok",
    "umount /proc/keys": "EINVAL",
    "umount /dev": "EINVAL",
    "remount /": "EPERM",
  });
  if (hasProgram("unshare")) {
    const sh = await sandboxSh("unshare -m umount /proc/keys", ["--root"]);
    assert.notEqual(sh.code, 0);
    assert.match(sh.stderr, /umount: \/proc\/keys: not mounted/);
  }
});

/** The /proc masks nsbox sets up (src/plan/plan.ts), where the host's kernel has them. */
const PROC_MASKED_FILES = [
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/sysrq-trigger",
].filter(hostHas);
const PROC_MASKED_DIRS = ["/proc/acpi", "/proc/asound", "/proc/scsi"].filter(hostHas);

Deno.test({
  name: "escape: unmounting a /proc mask fails: EINVAL with --root, EPERM without; the mask stays",
  ignore: NEEDS_PY_X86,
}, async () => {
  const masks = [...PROC_MASKED_FILES, ...PROC_MASKED_DIRS];
  assert.ok(masks.length > 0, "the host has none of the masked /proc entries");
  const script = PY_MOUNT + `
for p in ${JSON.stringify(masks)}:
    out(p, umount(p) + " " + umount(p, MNT_DETACH))
for p in ${JSON.stringify(PROC_MASKED_FILES)}:
    out("read " + p, len(open(p, "rb").read(4096)))
for p in ${JSON.stringify(PROC_MASKED_DIRS)}:
    out("list " + p, len(os.listdir(p)))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  for (const [r, errno] of [[plain, "EPERM"], [root, "EINVAL"]] as const) {
    for (const p of masks) assert.equal(r[p], `${errno} ${errno}`, p);
    for (const p of PROC_MASKED_FILES) assert.equal(r[`read ${p}`], "0", `${p} is not masked any more`);
    for (const p of PROC_MASKED_DIRS) assert.equal(r[`list ${p}`], "0", `${p} is not masked any more`);
  }
});

Deno.test({
  name: "escape: unmounting /proc, /dev, /dev/pts, /tmp or / to uncover the host's fails with EINVAL (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const paths = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/tmp", "/"];
  const r = await attack(
    PY_MOUNT + `
for p in ${JSON.stringify(paths)}:
    out(p, umount(p) + " " + umount(p, MNT_DETACH))
out("dev", " ".join(sorted(os.listdir("/dev"))))
`,
    ["--root"],
  );
  for (const p of paths) assert.equal(r[p], "EINVAL EINVAL", p);
  assert.equal(r.dev, "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero");
});

Deno.test({
  name: "escape: remounting /proc/sys writable fails with EPERM, unmounting it with EINVAL (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
out("remount bind rw", mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND))
out("mount_setattr", clear_ro(AT_FDCWD, "/proc/sys", AT_RECURSIVE))
out("umount", umount("/proc/sys", MNT_DETACH))
out("write", overwrite("/proc/sys/kernel/domainname"))
`,
    ["--root"],
  );
  assert.deepEqual(r, { "remount bind rw": "EPERM", mount_setattr: "EPERM", umount: "EINVAL", write: "EROFS" });
});

Deno.test({
  name: "escape: the chroot escape (fd to the old root, fchdir, chdir ..) stays in the sandbox's root (--root)",
  ignore: NEEDS_PY_X86 || NO_HOME,
}, async () => {
  // Two host-only files: one under the host's /tmp (hidden by the sandbox's
  // private /tmp), one in the caller's home hidden by --tmpfs.
  await using tmp = await tempDir();
  await using home = await homeDir();
  await Deno.writeTextFile(`${tmp.path}/marker`, "host");
  await Deno.writeTextFile(`${home.path}/marker`, "host");
  const script = `
markers = ["${tmp.path}/marker", "${home.path}/marker"]
out("visible before", any(os.path.exists(m) for m in markers))
before = os.stat("/")
fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("/tmp/jail")
out("chroot", oserr(os.chroot, "/tmp/jail"))
os.fchdir(fd)
for _ in range(64):
    os.chdir("..")
out("chroot .", oserr(os.chroot, "."))
after = os.stat("/")
out("same root", (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino))
out("visible after", any(os.path.exists(m) for m in markers))
out("tmp", " ".join(os.listdir("/tmp")))
`;
  const flags = ["--tmpfs", home.path];
  const [root, plain] = await Promise.all([attack(script, ["--root", ...flags]), attack(script, flags)]);
  assert.deepEqual(root, {
    "visible before": "False",
    chroot: "ok",
    "chroot .": "ok",
    "same root": "True",
    "visible after": "False",
    tmp: "jail",
  });
  // Without --root there is no CAP_SYS_CHROOT at all.
  assert.equal(plain.chroot, "EPERM");
});

Deno.test({
  name: "escape: a file written to /tmp, /var/tmp or /dev/shm inside does not appear on the host",
  ignore: NEEDS_PY_X86,
}, async () => {
  const name = `nsbox-escape-${crypto.randomUUID()}`;
  const dirs = ["/tmp", "/var/tmp", "/dev/shm"].filter(hostHas);
  const script = `
for d in ${JSON.stringify(dirs)}:
    with open(d + "/${name}", "wb") as f:
        f.write(b"x" * (1 << 20))
    out(d, os.stat(d + "/${name}").st_size)
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  for (const r of [plain, root]) assert.deepEqual(r, Object.fromEntries(dirs.map((d) => [d, "1048576"])));
  for (const d of dirs) assert.ok(!hostHas(`${d}/${name}`), `the file appeared in the host's ${d}`);
});

/** A setuid-root program of the host's, or null. */
const SETUID_SU = ["/usr/bin/su", "/bin/su"].find((p) => {
  try {
    const st = Deno.statSync(p);
    return st.uid === 0 && ((st.mode ?? 0) & 0o4000) !== 0;
  } catch {
    return false;
  }
}) ?? null;

Deno.test({
  name: "escape: a setuid-root program (su) runs with the caller's ids and no capabilities; su fails",
  ignore: SETUID_SU === null,
}, async () => {
  // su waits for a password on a FIFO while its /proc/PID/status is read.
  const script = `
mkfifo /tmp/pw
${SETUID_SU} -c 'echo GOT-ROOT' root </tmp/pw >/tmp/su.out 2>&1 &
pid=$!
exec 3>/tmp/pw
i=0
while [ "$(cat /proc/$pid/comm 2>/dev/null)" != su ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
grep -E '^(Uid|Gid|CapEff|NoNewPrivs):' /proc/$pid/status
exec 3>&-
wait $pid
echo "exit: $?"
cat /tmp/su.out
`;
  const r = await sandboxSh(script);
  assert.equal(r.code, 0, r.stderr);
  const id = `${Deno.uid()}`, gid = `${Deno.gid()}`;
  const out = lines(r.stdout);
  assert.deepEqual(out.slice(0, 5), [
    `Uid:\t${id}\t${id}\t${id}\t${id}`,
    `Gid:\t${gid}\t${gid}\t${gid}\t${gid}`,
    "CapEff:\t0000000000000000",
    "NoNewPrivs:\t1",
    "exit: 1",
  ], r.stdout);
  assert.match(r.stdout, /Authentication failure/);
  assert.doesNotMatch(r.stdout, /GOT-ROOT/);
});

Deno.test({
  name: "escape: mknod of a character or block device fails with EPERM, even with --root",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
for d in ("/tmp", "/dev/shm"):
    out(d + " chr 1:1", oserr(os.mknod, d + "/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1)))
    out(d + " blk 8:0", oserr(os.mknod, d + "/sda", stat.S_IFBLK | 0o666, os.makedev(8, 0)))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = {
    "/tmp chr 1:1": "EPERM",
    "/tmp blk 8:0": "EPERM",
    "/dev/shm chr 1:1": "EPERM",
    "/dev/shm blk 8:0": "EPERM",
  };
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
  const sh = await sandboxSh("mknod /tmp/x c 1 3", ["--root"]);
  assert.notEqual(sh.code, 0);
  assert.match(sh.stderr, /Operation not permitted/);
});

Deno.test({
  name: "escape: /dev has no block device, no /dev/mem, /dev/kmem, /dev/port or /dev/kmsg: only the minimal set",
  ignore: !HAS_PYTHON,
}, async () => {
  const r = await attack(
    `
devs = []
for top, dirs, files in os.walk("/dev"):
    for n in dirs + files:
        p = os.path.join(top, n)
        st = os.lstat(p)
        if stat.S_ISBLK(st.st_mode):
            devs.append("blk %s" % p)
        elif stat.S_ISCHR(st.st_mode):
            devs.append("chr %s %d:%d" % (p, os.major(st.st_rdev), os.minor(st.st_rdev)))
out("devices", ", ".join(sorted(devs)))
for p in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/console"):
    out(p, oserr(os.open, p, os.O_RDONLY))
`,
    ["--root"],
  );
  assert.equal(
    r.devices,
    "chr /dev/full 1:7, chr /dev/null 1:3, chr /dev/pts/ptmx 5:2, chr /dev/random 1:8, chr /dev/tty 5:0, " +
      "chr /dev/urandom 1:9, chr /dev/zero 1:5",
  );
  for (const p of ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/console"]) {
    assert.equal(r[p], "ENOENT", p);
  }
});

const HAS_NET_HELPER = hasProgram("pasta") || hasProgram("slirp4netns");

Deno.test({
  name: "escape: the sandbox's /etc/resolv.conf (--net) cannot be remounted writable or unmounted (--root)",
  ignore: NEEDS_PY_X86 || !HAS_NET_HELPER,
}, async () => {
  const host = await Deno.readTextFile("/etc/resolv.conf").catch(() => null);
  const r = await attack(
    PY_MOUNT + `
p = "/etc/resolv.conf"
out("ours", open(p).read().startswith("# written by nsbox"))
out("remount bind rw", mount(None, p, None, MS_REMOUNT | MS_BIND))
out("mount_setattr", clear_ro(AT_FDCWD, p, 0))
out("umount", umount(p, MNT_DETACH))
out("append", append(p))
`,
    ["--root", "--net"],
  );
  assert.deepEqual(r, {
    ours: "True",
    "remount bind rw": "EPERM",
    mount_setattr: "EPERM",
    umount: "EINVAL",
    append: "EROFS",
  });
  assert.equal(await Deno.readTextFile("/etc/resolv.conf").catch(() => null), host);
});

Deno.test("escape: the host's tree left at /oldroot while the sandbox was built is gone (no mount, no directory)", async () => {
  const r = await nsbox([
    "run",
    "--root",
    "--",
    "sh",
    "-c",
    "cut -d' ' -f5 /proc/self/mountinfo; ls -d /oldroot /newroot",
  ]);
  const points = lines(r.stdout);
  assert.ok(points.includes("/"), r.stdout);
  for (const p of points) assert.doesNotMatch(p, /^\/(oldroot|newroot)/, p);
  assert.match(r.stderr, /\/oldroot.*No such file or directory/);
  assert.match(r.stderr, /\/newroot.*No such file or directory/);
});
