/**
 * Escape attempts against the kernel: system calls the seccomp filter
 * refuses (even when capabilities are handed out with --cap-add), other
 * syscall ABIs, /proc/sys, /sys, masked /proc files, proc/sysfs/cgroup
 * mounts, the kernel log, the clock, the hostname, nested user namespaces
 * and the capability sets.
 */
import assert from "node:assert/strict";
import { attack, hasProgram, hostHas, NEEDS_PY_X86, probe, PY_MOUNT, sandboxPy, sandboxSh } from "./_lib.ts";

/** One refused system call: the Python that makes it (x86_64 numbers), and the capabilities that would matter. */
interface SyscallAttack {
  readonly label: string;
  readonly py: string;
  readonly errno: "EPERM" | "ENOSYS";
  /** Added to --root for the second run: the filter holds even with them. */
  readonly caps: readonly string[];
}

const PERF_ATTR = `
attr = ctypes.create_string_buffer(128)
# PERF_TYPE_SOFTWARE, size 128, PERF_COUNT_SW_CPU_CLOCK, exclude_kernel | exclude_hv
import struct
struct.pack_into("=IIQQQQQ", attr, 0, 1, 128, 0, 0, 0, 0, (1 << 5) | (1 << 6))
`;

const SYSCALLS: readonly SyscallAttack[] = [
  {
    label: "keyctl(KEYCTL_GET_KEYRING_ID, session keyring)",
    py: `out("r", sc(250, 0, -3, 1))`,
    errno: "EPERM",
    caps: [],
  },
  {
    label: 'add_key("user") to the process keyring',
    py: `out("r", sc(248, b"user", b"nsbox-escape", b"secret", 6, -2))`,
    errno: "EPERM",
    caps: [],
  },
  {
    label: 'request_key("user")',
    py: `out("r", sc(249, b"user", b"nsbox-escape", None, 0))`,
    errno: "EPERM",
    caps: [],
  },
  {
    label: "bpf(BPF_PROG_LOAD)",
    py: `out("r", sc(321, 5, ctypes.create_string_buffer(128), 128))`,
    errno: "EPERM",
    caps: ["BPF", "PERFMON"],
  },
  {
    label: "perf_event_open(software cpu-clock on itself)",
    py: PERF_ATTR + `out("r", sc(298, attr, 0, -1, -1, 0))`,
    errno: "EPERM",
    caps: ["PERFMON"],
  },
  {
    label: "userfaultfd(UFFD_USER_MODE_ONLY)",
    py: `out("r", sc(323, 1))`,
    errno: "EPERM",
    caps: [],
  },
  {
    label: "init_module (load a kernel module)",
    py: `out("r", sc(175, b"\\0" * 64, 64, b""))`,
    errno: "EPERM",
    caps: ["SYS_MODULE"],
  },
  {
    label: "finit_module (load a kernel module from a file)",
    py: `out("r", sc(313, os.open("/dev/null", os.O_RDONLY), b"", 0))`,
    errno: "EPERM",
    caps: ["SYS_MODULE"],
  },
  {
    label: "delete_module",
    py: `out("r", sc(176, b"nsbox_escape", 0))`,
    errno: "EPERM",
    caps: ["SYS_MODULE"],
  },
  {
    label: "kexec_load",
    py: `out("r", sc(246, 0, 0, None, 0))`,
    errno: "EPERM",
    caps: ["SYS_BOOT"],
  },
  {
    label: "kexec_file_load",
    py: `out("r", sc(320, os.open("/dev/null", os.O_RDONLY), -1, 1, b"", 4))`,
    errno: "EPERM",
    caps: ["SYS_BOOT"],
  },
  {
    label: "open_by_handle_at with a handle from name_to_handle_at (shocker)",
    py: `
fh = ctypes.create_string_buffer(8 + 128)
ctypes.c_uint.from_buffer(fh).value = 128
mount_id = ctypes.c_int()
out("name_to_handle_at", sc(303, -100, b"/etc/hostname", fh, ctypes.byref(mount_id), 0))
out("r", sc(304, os.open("/", os.O_RDONLY), fh, os.O_RDONLY))`,
    errno: "EPERM",
    caps: ["DAC_READ_SEARCH"],
  },
  {
    label: "reboot(LINUX_REBOOT_CMD_CAD_OFF)",
    py: `out("r", sc(169, 0xfee1dead, 672274793, 0, None))`,
    errno: "EPERM",
    caps: ["SYS_BOOT"],
  },
  {
    label: "swapon",
    py: `out("r", sc(167, b"/tmp/nsbox-swap", 0))`,
    errno: "EPERM",
    caps: ["SYS_ADMIN"],
  },
  {
    label: "swapoff",
    py: `out("r", sc(168, b"/tmp/nsbox-swap"))`,
    errno: "EPERM",
    caps: ["SYS_ADMIN"],
  },
  {
    label: "acct (process accounting off)",
    py: `out("r", sc(163, None))`,
    errno: "EPERM",
    caps: ["SYS_PACCT"],
  },
  {
    label: "quotactl",
    py: `out("r", sc(179, 0x800002, b"/", 0, None))`,
    errno: "EPERM",
    caps: ["SYS_ADMIN"],
  },
  {
    label: "fanotify_init(FAN_REPORT_FID)",
    py: `out("r", sc(300, 0x200, 0))`,
    errno: "EPERM",
    caps: ["SYS_ADMIN"],
  },
  {
    label: "vhangup",
    py: `out("r", sc(153))`,
    errno: "EPERM",
    caps: ["SYS_TTY_CONFIG"],
  },
  {
    label: "io_uring_setup",
    py: `out("r", sc(425, 4, ctypes.create_string_buffer(120)))`,
    errno: "ENOSYS",
    caps: [],
  },
];

for (const s of SYSCALLS) {
  const privileged = ["--root", ...s.caps.flatMap((c) => ["--cap-add", c])];
  Deno.test({
    name: `escape: ${s.label} fails with ${s.errno} (default and ${privileged.join(" ")})`,
    ignore: NEEDS_PY_X86,
  }, async () => {
    const [plain, root] = await Promise.all([attack(s.py), attack(s.py, privileged)]);
    assert.equal(plain.r, s.errno, `default: ${JSON.stringify(plain)}`);
    assert.equal(root.r, s.errno, `${privileged.join(" ")}: ${JSON.stringify(root)}`);
  });
}

Deno.test({
  name: "escape (control): without the filter (--seccomp unconfined) the same calls reach the kernel",
  ignore: NEEDS_PY_X86,
}, async () => {
  // Shows that the attacks above really make the calls: refused by the
  // filter, not by a broken probe.
  const reaching = SYSCALLS.filter((s) => /^(keyctl|add_key|perf_event_open|io_uring_setup)/.test(s.label));
  assert.equal(reaching.length, 4);
  const results = await Promise.all(reaching.map((s) => attack(s.py, ["--seccomp", "unconfined"])));
  reaching.forEach((s, i) => assert.notEqual(results[i]!.r, s.errno, `${s.label} unconfined`));
});

Deno.test({
  name: "escape: a system call through the i386 ABI (int 0x80) kills the process with SIGSYS",
  ignore: NEEDS_PY_X86,
}, async () => {
  // getpid through int 0x80 (i386 number 20): the filter's tables are x86_64's,
  // so any other ABI is killed outright.
  const code = `
import mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))  # mov eax, 20; int 0x80; ret
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
out("before", "ok")
out("int 0x80 getpid", f())
`;
  const [plain, root] = await Promise.all([sandboxPy(code, ["--json"]), sandboxPy(code, ["--root", "--json"])]);
  for (const r of [plain, root]) {
    assert.equal(r.stdout, "before: ok\n", r.stderr);
    assert.equal(r.code, 128 + 31, r.stderr);
    assert.match(r.stderr, /"signal":"SIGSYS"/);
  }
});

Deno.test({
  name: "escape: keyctl through the x32 ABI bit (0x40000000 | 250) fails with ENOSYS",
  ignore: NEEDS_PY_X86,
}, async () => {
  const [plain, root] = await Promise.all([
    attack(`out("r", sc(0x40000000 | 250, 0, -3, 1))`),
    attack(`out("r", sc(0x40000000 | 250, 0, -3, 1))`, ["--root"]),
  ]);
  assert.equal(plain.r, "ENOSYS");
  assert.equal(root.r, "ENOSYS");
});

Deno.test({
  name: "escape: writing /proc/sys (core_pattern, modprobe, hostname, ...) fails with EROFS (default and --root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  // Each file gets its own current value back, so nothing would change even if a write went through.
  const files = [
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/domainname",
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/fs/suid_dumpable",
    "/proc/sys/net/ipv4/ip_forward",
  ].filter(hostHas);
  const script = PY_MOUNT + `
for p in ${JSON.stringify(files)}:
    out(p, overwrite(p, open(p).read()))
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = Object.fromEntries(files.map((f) => [f, "EROFS"]));
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
});

Deno.test({
  name: "escape: /proc/sysrq-trigger is /dev/null (or absent with the host's kernel): a write reaches nothing",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    `
p = "/proc/sysrq-trigger"
try:
    st = os.stat(p)
    out("node", "chr %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISCHR(st.st_mode) else "file")
    with open(p, "w") as f:
        f.write("h")  # sysrq help: harmless even where it would reach the kernel
    out("write", "ok")
except OSError as e:
    out("node", ename(e.errno))
`,
    ["--root"],
  );
  if (hostHas("/proc/sysrq-trigger")) assert.deepEqual(r, { node: "chr 1:3", write: "ok" });
  else assert.deepEqual(r, { node: "ENOENT" });
});

Deno.test({
  name: "escape: /proc/kcore, /proc/keys, /proc/timer_list and the other masked files read empty (or are absent)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const files = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
  ];
  const r = await attack(
    `
for p in ${JSON.stringify(files)}:
    try:
        st = os.stat(p)
        node = "chr %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISCHR(st.st_mode) else "file"
        out(p, "%s, %d bytes" % (node, len(open(p, "rb").read(1 << 16))))
    except OSError as e:
        out(p, ename(e.errno))
`,
    ["--root"],
  );
  for (const f of files) assert.equal(r[f], hostHas(f) ? "chr 1:3, 0 bytes" : "ENOENT", f);
});

Deno.test({
  name: "escape: mounting proc or sysfs (the host's view) fails with EPERM (--root), fsopen's way too",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
os.mkdir("/tmp/m")
out("proc", mount("proc", "/tmp/m", "proc", 0))
out("sysfs", mount("sysfs", "/tmp/m", "sysfs", 0))
out("devtmpfs", mount("devtmpfs", "/tmp/m", "devtmpfs", 0))
libc.syscall.restype = ctypes.c_long
fd = libc.syscall(ctypes.c_long(430), b"proc", ctypes.c_ulong(0))
out("fsopen proc", "ok" if fd >= 0 else ename(ctypes.get_errno()))
out("fsconfig create", sc(431, fd, 6, None, None, 0))
out("pids", " ".join(p for p in os.listdir("/proc") if p.isdigit()))
out("self", os.getpid())
`,
    ["--root"],
  );
  const { pids, self, ...refusals } = r;
  assert.deepEqual(refusals, {
    proc: "EPERM",
    sysfs: "EPERM",
    devtmpfs: "EPERM",
    "fsopen proc": "ok",
    "fsconfig create": "EPERM",
  });
  // The /proc there is shows only the sandbox: nsbox-init and the command.
  assert.deepEqual(pids!.split(" ").map(Number).sort((a, b) => a - b), [1, Number(self)]);
  if (hasProgram("mount")) {
    const sh = await sandboxSh("mount -t proc proc /mnt", ["--root"]);
    assert.notEqual(sh.code, 0);
    assert.match(sh.stderr, /permission denied/i);
  }
});

Deno.test({
  name: "escape: the cgroup release_agent escape (CVE-2022-0492) is refused: mount EPERM, release_agent EROFS (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    PY_MOUNT + `
os.mkdir("/tmp/cg")
out("mount cgroup v1", mount("cgroup", "/tmp/cg", "cgroup", 0, "memory"))
out("mount cgroup v1 named", mount("cgroup", "/tmp/cg", "cgroup", 0, "none,name=nsbox-escape"))
out("mount cgroup2", mount("cgroup2", "/tmp/cg", "cgroup2", 0))
agents = []
for top, dirs, files in os.walk("/sys/fs/cgroup"):
    if "release_agent" in files:
        agents.append(os.path.join(top, "release_agent"))
    dirs[:] = []  # release_agent sits at the top of each v1 hierarchy
    if top == "/sys/fs/cgroup":
        dirs[:] = os.listdir(top)
out("agents", len(agents))
for a in agents:
    out(a, overwrite(a, "/tmp/nsbox-escape"))
`,
    ["--root"],
  );
  assert.equal(r["mount cgroup v1"], "EPERM");
  assert.equal(r["mount cgroup v1 named"], "EPERM");
  assert.equal(r["mount cgroup2"], "EPERM");
  // Every v1 hierarchy's release_agent the host has is there, read-only.
  const hostAgents = [...Deno.readDirSync("/sys/fs/cgroup")].filter((e) =>
    hostHas(`/sys/fs/cgroup/${e.name}/release_agent`)
  );
  assert.equal(r.agents, String(hostAgents.length));
  for (const [k, v] of Object.entries(r)) if (k.endsWith("/release_agent")) assert.equal(v, "EROFS", k);
});

Deno.test({
  name: "escape: writing /sys (uevent_helper, kernel knobs) fails with EROFS (--root)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const files = [
    "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/power/state",
    "/sys/kernel/profiling",
  ].filter(hostHas);
  assert.ok(files.length > 0, "no known /sys file on this host");
  const r = await attack(
    PY_MOUNT + `
for p in ${JSON.stringify(files)}:
    out(p, overwrite(p, "nsbox-escape"))
`,
    ["--root"],
  );
  assert.deepEqual(r, Object.fromEntries(files.map((f) => [f, "EROFS"])));
});

Deno.test({
  name:
    "escape: reading the kernel log fails: syslog(2) EPERM, /proc/kmsg EACCES, no /dev/kmsg (--root --cap-add SYSLOG)",
  ignore: NEEDS_PY_X86,
}, async () => {
  const r = await attack(
    `
buf = ctypes.create_string_buffer(4096)
ctypes.set_errno(0)
out("syslog read all", "ok" if libc.klogctl(3, buf, 4096) >= 0 else ename(ctypes.get_errno()))
out("/proc/kmsg", oserr(os.open, "/proc/kmsg", os.O_RDONLY))
out("/dev/kmsg", oserr(os.open, "/dev/kmsg", os.O_RDONLY))
`,
    ["--root", "--cap-add", "SYSLOG"],
  );
  assert.deepEqual(r, { "syslog read all": "EPERM", "/proc/kmsg": "EACCES", "/dev/kmsg": "ENOENT" });
});

Deno.test({
  name: "escape: setting the host's clock fails with EPERM (--root --cap-add SYS_TIME)",
  ignore: NEEDS_PY_X86,
}, async () => {
  // The current time: no change even if a call went through.
  const r = await attack(
    `
class TS(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
class TV(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]
now = time.time()
out("clock_settime", sc(227, 0, ctypes.byref(TS(int(now), 0))))
out("settimeofday", sc(164, ctypes.byref(TV(int(now), 0)), None))
tx = ctypes.create_string_buffer(256)
ctypes.c_uint.from_buffer(tx).value = 0x0001  # ADJ_OFFSET
out("adjtimex", sc(159, tx))
`,
    ["--root", "--cap-add", "SYS_TIME"],
  );
  assert.deepEqual(r, { clock_settime: "EPERM", settimeofday: "EPERM", adjtimex: "EPERM" });
});

Deno.test({
  name: "escape: sethostname fails with EPERM by default; with --root it changes only the sandbox's",
  ignore: NEEDS_PY_X86,
}, async () => {
  const before = Deno.hostname();
  const name = `escape-${Math.floor(Math.random() * 1e9)}`;
  const script = `
out("sethostname", oserr(socket.sethostname, "${name}"))
out("now", socket.gethostname())
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  assert.deepEqual(plain, { sethostname: "EPERM", now: "nsbox" });
  assert.deepEqual(root, { sethostname: "ok", now: name });
  assert.equal(Deno.hostname(), before);
});

Deno.test({
  name: "escape: `unshare -U` (a nested user namespace) fails with EPERM without --allow-userns",
  ignore: !hasProgram("unshare"),
}, async () => {
  const [plain, root] = await Promise.all([
    sandboxSh("unshare -U true"),
    sandboxSh("unshare -Ur true", ["--root"]),
  ]);
  for (const r of [plain, root]) {
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unshare failed: Operation not permitted/);
  }
});

Deno.test({
  name: "escape: unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER) fail with EPERM, clone3 with ENOSYS",
  ignore: NEEDS_PY_X86,
}, async () => {
  const script = `
before = os.readlink("/proc/self/ns/user")
out("unshare", sc(272, 0x10000000))
out("unshare+mnt", sc(272, 0x10000000 | 0x20000))
ctypes.set_errno(0)
pid = libc.syscall(ctypes.c_long(56), ctypes.c_ulong(0x10000000 | 17), None, None, None, ctypes.c_ulong(0))
if pid == 0:
    os._exit(0)
out("clone", "ok" if pid > 0 else ename(ctypes.get_errno()))
if pid > 0:
    os.waitpid(pid, 0)
args = ctypes.create_string_buffer(88)
ctypes.c_uint64.from_buffer(args).value = 0x10000000
ctypes.c_uint64.from_buffer(args, 32).value = 17
out("clone3", sc(435, args, 88))
out("userns", "same" if os.readlink("/proc/self/ns/user") == before else "new")
`;
  const [plain, root] = await Promise.all([attack(script), attack(script, ["--root"])]);
  const expected = { unshare: "EPERM", "unshare+mnt": "EPERM", clone: "EPERM", clone3: "ENOSYS", userns: "same" };
  assert.deepEqual(plain, expected);
  assert.deepEqual(root, expected);
});

Deno.test({
  name: "escape (control): with --allow-userns a nested user namespace is allowed",
  ignore: !hasProgram("unshare"),
}, async () => {
  const r = await sandboxSh("unshare -Ur id -u", ["--allow-userns"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "0\n");
});

/** Capabilities --root never gets unless --cap-add names them (src/spec/capabilities.ts ROOT_DENIED), by number. */
const ROOT_DENIED: Record<string, number> = {
  LINUX_IMMUTABLE: 9,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_PACCT: 20,
  SYS_BOOT: 22,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
};

Deno.test("escape: capabilities: none at all by default (CapInh/Prm/Eff/Bnd/Amb 0, no_new_privs)", async () => {
  const p = await probe();
  for (const k of ["cap_inh", "cap_prm", "cap_eff", "cap_bnd", "cap_amb"]) {
    assert.equal(BigInt(`0x${p[k]}`), 0n, `${k}: ${p[k]}`);
  }
  assert.equal(p.no_new_privs, 1);
});

Deno.test("escape: capabilities: --root lacks SYS_MODULE, SYS_TIME, SYS_BOOT, BPF and the rest of the deny-list", async () => {
  const p = await probe(["--root"]);
  for (const k of ["cap_prm", "cap_eff", "cap_bnd"]) {
    const set = BigInt(`0x${p[k]}`);
    assert.notEqual(set, 0n, `${k} is empty with --root`);
    for (const [name, bit] of Object.entries(ROOT_DENIED)) {
      assert.equal((set >> BigInt(bit)) & 1n, 0n, `${k} has CAP_${name}`);
    }
  }
  assert.equal(p.no_new_privs, 1);
  // and --cap-drop ALL leaves nothing
  const none = await probe(["--root", "--cap-drop", "ALL"]);
  for (const k of ["cap_prm", "cap_eff", "cap_bnd"]) assert.equal(BigInt(`0x${none[k]}`), 0n, k);
});
