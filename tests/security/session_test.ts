/**
 * Escape attempts through the caller's session and process group, without a
 * terminal (scripts, CI): `kill(0, ...)` from inside must not reach the
 * caller's script and its other jobs, and a command that stops itself must
 * not stop them either.
 *
 * The caller is made by a small Python driver: in a session of its own with
 * no controlling terminal, it forks a child into a new process group (the
 * "caller's group": a shell that starts a background `sleep`, its other job,
 * then execs nsbox). The group is not orphaned (the driver, its parent, is in
 * the same session), so a SIGTSTP sent to it stops it, as in a real script.
 */
import assert from "node:assert/strict";
import { HAS_PYTHON, nsboxCommand } from "./_lib.ts";

const DRIVER = String.raw`
import json, os, signal, sys, tempfile, time
marker, nsbox = sys.argv[1], sys.argv[2:]

def stat(pid):
    try:
        s = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return {"state": f[0], "ppid": int(f[1]), "pgrp": int(f[2]), "sid": int(f[3])}

def comm(pid):
    try:
        return open("/proc/%d/comm" % pid).read().strip()
    except OSError:
        return None

def nested(pid):
    """Whether the process lives in a PID namespace below ours (the sandbox's), as /proc/PID/status NSpid says."""
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("NSpid:"):
                return len(line.split()) > 2
    except OSError:
        pass
    return False

def command(state=None):
    """The sandbox's command: the sh in the sandbox's PID namespace whose command line has the marker,
    a child of nsbox-init (or, with --as-pid-1, of nsbox)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmdline = open("/proc/%s/cmdline" % d, "rb").read().decode(errors="replace")
        except OSError:
            continue
        st = stat(int(d))
        if marker in cmdline and comm(int(d)) == "sh" and st and nested(int(d)) and \
                (comm(st["ppid"]) == "nsbox-init" or st["ppid"] == caller):
            if state is None or st["state"] == state:
                return int(d)
    return None

def wait_for(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    return None

os.setsid()  # no controlling terminal
out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
job_r, job_w = os.pipe()
caller = os.fork()
if caller == 0:
    os.setpgid(0, 0)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    os.dup2(job_w, 3)
    os.execvp("sh", ["sh", "-c", 'sleep 300 & echo $! >&3; exec 3>&-; exec "$@"', "sh"] + nsbox)
os.close(job_w)
job = int(os.read(job_r, 64).decode().strip())
result = {"caller": caller, "job": job}

def text(f):
    f.seek(0)
    return f.read().decode(errors="replace")

def reap(timeout=20.0):
    """nsbox's exit code, or None when it has not ended in time."""
    end = time.time() + timeout
    while time.time() < end:
        pid, status = os.waitpid(caller, os.WNOHANG)
        if pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    return None

def finish():
    try:
        os.killpg(caller, signal.SIGCONT)
        os.killpg(caller, signal.SIGKILL)
    except OSError:
        pass
    result.update(stdout=text(out), stderr=text(err))
    print(json.dumps(result), flush=True)
`;

/** kill(0, SIGTERM) from inside, once the driver has looked at the command's session and group. */
const KILL_ZERO = DRIVER + String.raw`
cmd = wait_for(lambda: command())
result["command"] = cmd
result["command_stat"] = stat(cmd) if cmd else None
result["caller_stat"] = stat(caller)
os.kill(caller, signal.SIGUSR1)  # nsbox forwards it; the command's trap runs kill -TERM 0
result["nsbox_exit"] = reap()
time.sleep(0.3)
st = stat(job)
result["job_state"] = st["state"] if st else "gone"
finish()
`;

/** The command stops itself twice; SIGCONT to nsbox after each stop. */
const STOP_SELF = DRIVER + String.raw`
cmd = wait_for(lambda: command("T"))
time.sleep(0.5)  # nsbox has had the report
result["job_state"] = stat(job)["state"]
result["nsbox_state"] = stat(caller)["state"]
os.kill(caller, signal.SIGCONT)
wait_for(lambda: "resumed-1" in text(out) and command("T"))
time.sleep(0.5)
result["job_state2"] = stat(job)["state"]
os.kill(caller, signal.SIGCONT)
result["nsbox_exit"] = reap()
finish()
`;

async function drive(driver: string, inner: string, flags: string[] = []): Promise<Record<string, unknown>> {
  const marker = `nsbox-session-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  const [cmd, args] = nsboxCommand(["run", ...flags, "--", "sh", "-c", `: ${marker}; ${inner}`]);
  const out = await new Deno.Command("python3", {
    args: ["-c", driver, marker, cmd, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

for (const flags of [[], ["--as-pid-1"]]) {
  Deno.test({
    name: "escape: without a terminal, kill(0, SIGTERM) inside does not reach the caller's process group " +
      `(the command has a session of its own)${flags.length ? " (--as-pid-1)" : ""}`,
    ignore: !HAS_PYTHON,
  }, async () => {
    const r = await drive(
      KILL_ZERO,
      "trap 'kill -TERM 0; exit 9' USR1; echo ready; while :; do sleep 0.05; done",
      flags,
    );
    const cmd = r.command as number;
    const cmdStat = r.command_stat as { pgrp: number; sid: number };
    const callerStat = r.caller_stat as { pgrp: number; sid: number };
    assert.ok(cmd, JSON.stringify(r));
    assert.notEqual(cmdStat.sid, callerStat.sid, `the command is in the caller's session: ${JSON.stringify(r)}`);
    assert.equal(cmdStat.sid, cmd, `the command leads a session of its own: ${JSON.stringify(r)}`);
    assert.equal(cmdStat.pgrp, cmd, JSON.stringify(r));
    assert.equal(r.job_state, "S", `the caller's other job was hit: ${JSON.stringify(r)}`);
    // The command ends: by its own SIGTERM, or (as PID 1, which ignores it) with exit 9.
    assert.ok([9, 143].includes(r.nsbox_exit as number), `the command's own end: ${JSON.stringify(r)}`);
  });
}

Deno.test({
  name: "escape: without a terminal, a command that stops itself does not stop the caller's process group; " +
    "nsbox says once how to resume it, and SIGCONT to nsbox does",
  ignore: !HAS_PYTHON,
}, async () => {
  const r = await drive(
    STOP_SELF,
    "echo stopping-1; kill -STOP $$; echo resumed-1; kill -STOP $$; echo resumed-2; exit 7",
  );
  const caller = r.caller as number;
  assert.equal(r.job_state, "S", `the caller's other job was stopped: ${JSON.stringify(r)}`);
  assert.notEqual(r.nsbox_state, "T", `nsbox stopped: ${JSON.stringify(r)}`);
  assert.equal(r.job_state2, "S", `the caller's other job was stopped: ${JSON.stringify(r)}`);
  assert.equal(r.stdout, "stopping-1\nresumed-1\nresumed-2\n");
  assert.equal(
    r.stderr,
    `nsbox: the command stopped (SIGSTOP); resume it with: kill -CONT ${caller}\n`,
    JSON.stringify(r),
  );
  assert.equal(r.nsbox_exit, 7, JSON.stringify(r));
});
