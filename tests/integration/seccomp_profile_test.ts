// --seccomp FILE: OCI (Docker, podman) seccomp profiles.
import assert from "node:assert/strict";
import { nsbox, tempDir } from "./_harness.ts";

const PODMAN_PROFILE = "/usr/share/containers/seccomp.json";
const hasPodmanProfile = (() => {
  try {
    return Deno.statSync(PODMAN_PROFILE).isFile;
  } catch {
    return false;
  }
})();

Deno.test("seccomp profile: a custom profile refuses what it lists, with its errno", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/profile.json`;
  Deno.writeTextFileSync(
    file,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
        { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
      ],
    }),
  );
  const r = await nsbox([
    "run",
    "--seccomp",
    file,
    "--",
    "sh",
    "-c",
    "mkdir /tmp/x; echo mkdir=$?; setarch x86_64 -R true; echo aslr=$?; setarch linux32 true; echo linux32=$?; " +
    "grep Seccomp: /proc/self/status",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["mkdir=1", "aslr=0", "linux32=1", "Seccomp:\t2"]);
  assert.match(r.stderr, /mkdir: cannot create directory '?.*\/tmp\/x'?.*: Permission denied/);
  assert.match(r.stderr, /failed to set personality to linux32: Operation not permitted/);
});

Deno.test({
  name: "seccomp profile: podman's default profile runs an ordinary command",
  ignore: !hasPodmanProfile,
  async fn() {
    const r = await nsbox(["run", "--seccomp", PODMAN_PROFILE, "--", "sh", "-c", "echo ok; ls / >/dev/null; id -u"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split("\n")[0], "ok");
  },
});

Deno.test("seccomp profile: an unusable profile is refused with 125 before anything runs", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/trace.json`;
  Deno.writeTextFileSync(file, JSON.stringify({ defaultAction: "SCMP_ACT_TRACE" }));
  const r = await nsbox(["run", "--seccomp", file, "--", "true"]);
  assert.equal(r.code, 125);
  assert.equal(
    r.stderr,
    `nsbox: --seccomp: ${file}: defaultAction: SCMP_ACT_TRACE is not supported (nsbox has no tracer or notification listener).\n`,
  );
});
