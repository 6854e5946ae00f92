/**
 * `nsbox doctor`'s checks (src/doctor/doctor.ts) against fake hosts.
 */
import assert from "node:assert/strict";
import {
  type Check,
  type DoctorFacts,
  doctorText,
  maskedProcPaths,
  type PathStat,
  runDoctor,
} from "../../src/doctor/doctor.ts";
import { DELEGATE_HINT } from "../../src/cgroup/manager.ts";

const V2_MOUNTINFO = "22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
  "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
const HYBRID_MOUNTINFO = V2_MOUNTINFO.replace("/sys/fs/cgroup rw", "/sys/fs/cgroup/unified rw") +
  "32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
const DOCKER_MASKS = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/bus", "/proc/sys"]
  .map((p, i) => `${40 + i} 22 0:5 /null ${p} rw,nosuid - devtmpfs udev rw`).join("\n");

interface FakeHost {
  files: Record<string, string>;
  stats: Record<string, PathStat>;
  programs: Record<string, string | null>;
  packages: Record<string, string>;
  env: Record<string, string>;
  kernelRelease: string;
  arch: string;
  tunOpens: boolean;
  landlock: number | { errno: number };
  run: Awaited<ReturnType<DoctorFacts["tryRun"]>>;
}

const UID = 1000;
const USER_SERVICE = `/sys/fs/cgroup/user.slice/user-${UID}.slice/user@${UID}.service`;

/** A host where everything is in order; `change` edits it. */
function host(change: (h: FakeHost) => void = () => {}): DoctorFacts {
  const h: FakeHost = {
    files: {
      "/proc/sys/user/max_user_namespaces": "63000\n",
      "/proc/self/status": "Name:\tdeno\nSeccomp:\t0\nSeccomp_filters:\t0\n",
      "/proc/self/mountinfo": V2_MOUNTINFO,
      "/proc/self/cgroup": `0::/user.slice/user-${UID}.slice/user@${UID}.service/app.slice/term.scope\n`,
      "/proc/1/cgroup": "0::/init.scope\n",
      [`${USER_SERVICE}/cgroup.controllers`]: "cpuset cpu io memory pids\n",
      "/etc/subuid": "alice:100000:65536\n",
      "/etc/subgid": "alice:100000:65536\n",
    },
    stats: {
      "/run/user/1000/bus": { kind: "socket", mode: 0o666, uid: UID },
      "/dev/net/tun": { kind: "char", mode: 0o666, uid: 0 },
      "/usr/bin/newuidmap": { kind: "file", mode: 0o4755, uid: 0 },
      "/usr/bin/newgidmap": { kind: "file", mode: 0o4755, uid: 0 },
    },
    programs: {
      pasta: "pasta 2024_06_24.1ee2eca",
      slirp4netns: "slirp4netns version 1.2.0",
      newuidmap: null,
      newgidmap: null,
    },
    packages: {},
    env: { XDG_RUNTIME_DIR: "/run/user/1000", HOME: "/home/alice" },
    kernelRelease: "6.8.0-45-generic",
    arch: "x86_64",
    tunOpens: true,
    landlock: 4,
    run: { ok: true },
  };
  change(h);
  return {
    uid: UID,
    gid: UID,
    userName: "alice",
    kernelRelease: h.kernelRelease,
    arch: h.arch,
    env: h.env,
    execPath: "/usr/local/bin/nsbox",
    readText: (p) => h.files[p] ?? null,
    stat: (p) => h.stats[p] ?? (h.files[p] !== undefined ? { kind: "file", mode: 0o644, uid: 0 } : null),
    canOpenReadWrite: (p) => p === "/dev/net/tun" && h.tunOpens,
    which: (p) => p in h.programs ? `/usr/bin/${p}` : null,
    versionOf: (p) => h.programs[p] ?? null,
    packageVersion: (p) => h.packages[p] ?? null,
    landlockAbi: () => h.landlock,
    tryRun: () => Promise.resolve(h.run),
  };
}

async function check(facts: DoctorFacts, name: string): Promise<Check> {
  const found = (await runDoctor(facts)).checks.find((c) => c.name === name);
  assert.ok(found, `no check named ${name}`);
  return found;
}

Deno.test("doctor: a host with everything in order: every check ok, the sandbox last, exit ok", async () => {
  const report = await runDoctor(host());
  assert.equal(report.ok, true);
  assert.deepEqual(report.checks.map((c) => c.name), [
    "kernel",
    "user namespaces",
    "seccomp",
    "container",
    "cgroup v2",
    "cgroup controllers",
    "user bus",
    "network helpers",
    "/dev/net/tun",
    "subordinate ids",
    "landlock",
    "sandbox",
  ]);
  for (const c of report.checks) assert.equal(c.status, "ok", `${c.name}: ${c.message}`);
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c.message]));
  assert.equal(byName["kernel"], "Linux 6.8.0-45-generic (x86_64)");
  assert.match(byName["user namespaces"]!, /user\.max_user_namespaces=63000/);
  assert.equal(byName["cgroup v2"], "pure cgroup v2 at /sys/fs/cgroup");
  assert.equal(byName["cgroup controllers"], "cpuset cpu io memory pids (delegated by systemd)");
  assert.equal(byName["network helpers"], "pasta 2024_06_24.1ee2eca, slirp4netns 1.2.0; --net uses pasta");
  assert.equal(byName["subordinate ids"], "subuid 100000+65536, subgid 100000+65536; newuidmap, newgidmap installed");
  assert.equal(byName["landlock"], "ABI 4 (nsbox does not need it)");
  assert.equal(byName["container"], "not inside a container");
  const text = doctorText(report).split("\n");
  assert.equal(text.length, report.checks.length);
  assert.equal(text[0], "ok    kernel: Linux 6.8.0-45-generic (x86_64)");
  assert.equal(text.at(-1), "ok    sandbox: `nsbox run -- true` works");
});

Deno.test("doctor: Ubuntu's AppArmor restriction fails user namespaces, with the profile to install", async () => {
  const facts = host((h) => {
    h.files["/proc/sys/kernel/apparmor_restrict_unprivileged_userns"] = "1\n";
    h.run = { ok: false, message: "cannot write uid_map of the sandbox: Operation not permitted", hint: "x" };
  });
  const report = await runDoctor(facts);
  assert.equal(report.ok, false);
  const userns = report.checks.find((c) => c.name === "user namespaces")!;
  assert.equal(userns.status, "fail");
  assert.match(userns.message, /kernel\.apparmor_restrict_unprivileged_userns=1/);
  assert.match(
    userns.hint!,
    /\/etc\/apparmor\.d\/nsbox: abi <abi\/4\.0>, .*profile nsbox \/usr\/local\/bin\/nsbox flags=\(unconfined\) \{ userns, \}/,
  );
  assert.match(userns.hint!, /apparmor_parser -r \/etc\/apparmor\.d\/nsbox/);
  const last = report.checks.at(-1)!;
  assert.equal(last.status, "fail");
  assert.equal(last.message, "`nsbox run -- true` fails: cannot write uid_map of the sandbox: Operation not permitted");
  assert.match(doctorText(report), /^FAIL {2}user namespaces: .* -- fix: write \/etc\/apparmor\.d\/nsbox/m);
});

Deno.test("doctor: the user namespace sysctls of Debian and of every kernel, and a kernel without them", async () => {
  const debian = await check(
    host((h) => h.files["/proc/sys/kernel/unprivileged_userns_clone"] = "0\n"),
    "user namespaces",
  );
  assert.equal(debian.status, "fail");
  assert.match(debian.hint!, /sudo sysctl kernel\.unprivileged_userns_clone=1/);
  const zero = await check(host((h) => h.files["/proc/sys/user/max_user_namespaces"] = "0"), "user namespaces");
  assert.equal(zero.status, "fail");
  assert.match(zero.hint!, /sudo sysctl user\.max_user_namespaces=15000/);
  const none = await check(host((h) => delete h.files["/proc/sys/user/max_user_namespaces"]), "user namespaces");
  assert.equal(none.status, "fail");
  assert.match(none.message, /no user namespaces/);
  const allowed = await check(
    host((h) => h.files["/proc/sys/kernel/unprivileged_userns_clone"] = "1"),
    "user namespaces",
  );
  assert.equal(allowed.status, "ok");
  assert.match(allowed.message, /kernel\.unprivileged_userns_clone=1/);
});

Deno.test("doctor: the kernel release and architecture", async () => {
  const old = await check(host((h) => h.kernelRelease = "5.10.0-28-amd64"), "kernel");
  assert.equal(old.status, "fail");
  assert.match(old.message, /5\.10\.0-28-amd64: nsbox needs 5\.12 or newer/);
  assert.equal((await check(host((h) => h.kernelRelease = "5.12.0"), "kernel")).status, "ok");
  assert.equal((await check(host((h) => h.arch = "riscv64"), "kernel")).status, "fail");
});

Deno.test("doctor: cgroup v1 or hybrid layouts warn (limits only) and skip the controllers", async () => {
  const report = await runDoctor(host((h) => {
    h.files["/proc/self/mountinfo"] = HYBRID_MOUNTINFO;
    h.files["/proc/self/cgroup"] = "5:memory:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n";
  }));
  const v2 = report.checks.find((c) => c.name === "cgroup v2")!;
  assert.equal(v2.status, "warn");
  assert.match(
    v2.message,
    /hybrid layout: cgroup v1 controllers are bound \(memory\), cgroup v2 at \/sys\/fs\/cgroup\/unified/,
  );
  assert.match(v2.hint!, /systemd\.unified_cgroup_hierarchy=1/);
  assert.equal(report.checks.some((c) => c.name === "cgroup controllers"), false);
  assert.equal(report.ok, true); // limits are optional
  const none = await check(
    host((h) => h.files["/proc/self/mountinfo"] = "22 27 0:21 / /proc rw - proc proc rw\n"),
    "cgroup v2",
  );
  assert.equal(none.status, "warn");
  assert.match(none.message, /no cgroup v2 mounted/);
});

Deno.test("doctor: controllers not delegated warn with the drop-in; io alone is only a note", async () => {
  const core = await check(host((h) => h.files[`${USER_SERVICE}/cgroup.controllers`] = "pids\n"), "cgroup controllers");
  assert.equal(core.status, "warn");
  assert.equal(
    core.message,
    "pids (delegated by systemd); refused for want of a controller: --mem, --swap (memory), --cpus (cpu), --io-weight (io)",
  );
  assert.equal(core.hint, DELEGATE_HINT);
  const io = await check(
    host((h) => h.files[`${USER_SERVICE}/cgroup.controllers`] = "cpu memory pids\n"),
    "cgroup controllers",
  );
  assert.equal(io.status, "ok");
  assert.match(io.message, /--io-weight \(io\)/);
  assert.equal(io.hint, DELEGATE_HINT);
});

Deno.test("doctor: without a user bus, a cgroup nsbox owns is used (delegated), else limits have nowhere to go", async () => {
  const own = "/sys/fs/cgroup/ci/job";
  const delegated = host((h) => {
    h.env = {};
    h.files["/proc/self/cgroup"] = "0::/ci/job\n";
    h.files[`${own}/cgroup.controllers`] = "cpu memory pids\n";
    h.stats[`${own}/cgroup.procs`] = { kind: "file", mode: 0o644, uid: UID };
  });
  const c = await check(delegated, "cgroup controllers");
  assert.equal(
    c.message,
    "cpu memory pids (of nsbox's own cgroup /ci/job); refused for want of a controller: --io-weight (io)",
  );
  const bus = await check(delegated, "user bus");
  assert.equal(bus.status, "warn");
  assert.match(bus.message, /XDG_RUNTIME_DIR is not set/);
  assert.match(bus.hint!, /loginctl enable-linger/);
  const nowhere = await check(
    host((h) => {
      delete h.stats["/run/user/1000/bus"];
    }),
    "cgroup controllers",
  );
  assert.equal(nowhere.status, "warn");
  assert.match(nowhere.message, /no cgroup to put limits in/);
  const noSocket = await check(host((h) => delete h.stats["/run/user/1000/bus"]), "user bus");
  assert.equal(noSocket.message, "no socket at /run/user/1000/bus: limits need a systemd user session");
  const address = await check(host((h) => h.env = { DBUS_SESSION_BUS_ADDRESS: "unix:path=/tmp/bus" }), "user bus");
  assert.equal(address.status, "ok");
});

Deno.test("doctor: inside a container with masked /proc paths, the container check fails and says how to unmask", async () => {
  const docker = await check(
    host((h) => {
      h.files["/.dockerenv"] = "";
      h.files["/proc/self/mountinfo"] = V2_MOUNTINFO + DOCKER_MASKS + "\n";
    }),
    "container",
  );
  assert.equal(docker.status, "fail");
  assert.equal(
    docker.message,
    "inside a Docker container: /proc has masked paths (/proc/kcore, /proc/keys, /proc/timer_list, /proc/bus, ... (5 in all)), " +
      "so the kernel refuses a fresh /proc for a sandbox",
  );
  assert.match(docker.hint!, /--security-opt systempaths=unconfined/);
  assert.match(docker.hint!, /unmask=ALL/);
  assert.match(docker.hint!, /procMount: Unmasked/);
  const k8s = await check(host((h) => h.files["/proc/1/cgroup"] = "0::/kubepods/besteffort/pod1/abc\n"), "container");
  assert.deepEqual([k8s.status, k8s.message], ["ok", "inside a Kubernetes container; /proc is not masked"]);
  const podman = await check(host((h) => h.files["/run/.containerenv"] = ""), "container");
  assert.match(podman.message, /inside a podman container/);
  const nspawn = await check(host((h) => h.env = { ...h.env, container: "systemd-nspawn" }), "container");
  assert.match(nspawn.message, /inside a systemd-nspawn container/);
  assert.deepEqual(maskedProcPaths("1 2 0:1 / /proc/sys/fs/binfmt_misc rw - autofs systemd-1 rw\n"), []);
  assert.deepEqual(maskedProcPaths("1 2 0:1 /null /proc/odd\\040name rw - devtmpfs udev rw\n"), ["/proc/odd name"]);
});

Deno.test("doctor: network helpers, their versions (a package's when the program does not know), /dev/net/tun", async () => {
  const debian = await check(
    host((h) => {
      h.programs.pasta = "pasta unknown version";
      h.packages.passt = "0.0~git20230309.7c7625d-1";
    }),
    "network helpers",
  );
  assert.equal(debian.message, "pasta (package passt 0.0~git20230309.7c7625d-1), slirp4netns 1.2.0; --net uses pasta");
  const slirp = await check(host((h) => delete h.programs.pasta), "network helpers");
  assert.equal(slirp.message, "slirp4netns 1.2.0; --net uses slirp4netns");
  const none = await check(
    host((h) => {
      delete h.programs.pasta;
      delete h.programs.slirp4netns;
    }),
    "network helpers",
  );
  assert.equal(none.status, "warn");
  assert.match(none.hint!, /install passt/);
  const noTun = await check(host((h) => delete h.stats["/dev/net/tun"]), "/dev/net/tun");
  assert.equal(noTun.status, "warn");
  assert.match(noTun.hint!, /modprobe tun/);
  const closed = await check(host((h) => h.tunOpens = false), "/dev/net/tun");
  assert.equal(closed.status, "warn");
  assert.match(closed.message, /cannot be opened/);
});

Deno.test("doctor: subordinate ids and newuidmap/newgidmap, for --map-users", async () => {
  const none = await check(
    host((h) => {
      h.files["/etc/subuid"] = "bob:100000:65536\n";
      delete h.files["/etc/subgid"];
      delete h.programs.newgidmap;
    }),
    "subordinate ids",
  );
  assert.equal(none.status, "warn");
  assert.equal(
    none.message,
    "no range for alice in /etc/subuid, no range for alice in /etc/subgid, newgidmap is not installed: --map-users is refused",
  );
  assert.match(none.hint!, /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice/);
  assert.match(none.hint!, /install the uidmap package/);
  const caps = await check(
    host((h) => h.stats["/usr/bin/newuidmap"] = { kind: "file", mode: 0o755, uid: 0 }),
    "subordinate ids",
  );
  assert.equal(caps.status, "ok");
  assert.match(caps.message, /\(newuidmap not setuid: they need file capabilities\)/);
});

Deno.test("doctor: seccomp missing fails; a filter nsbox already runs under is said; Landlock is reported", async () => {
  const none = await check(host((h) => h.files["/proc/self/status"] = "Name:\tdeno\n"), "seccomp");
  assert.equal(none.status, "fail");
  assert.match(none.hint!, /--seccomp=unconfined/);
  const nested = await check(
    host((h) => h.files["/proc/self/status"] = "Seccomp:\t2\nSeccomp_filters:\t3\n"),
    "seccomp",
  );
  assert.equal(nested.status, "ok");
  assert.match(nested.message, /already runs under 3 filters/);
  const off = await check(host((h) => h.landlock = { errno: 95 }), "landlock");
  assert.deepEqual([off.status, off.message], ["ok", "unavailable: disabled at boot (lsm=) (nsbox does not need it)"]);
});
