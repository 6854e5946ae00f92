/**
 * The real host for `nsbox doctor` (see {@linkcode DoctorFacts}).
 *
 * @module
 */
import type { DoctorFacts, PathStat } from "./doctor.ts";
import { realHost } from "../spec/host.ts";
import { NsboxError } from "../errors.ts";
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from "../spec/syscall_table.ts";
import { errno } from "../../ffi/libc.ts";

function output(cmd: string, args: string[]): string | null {
  try {
    const out = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).outputSync();
    const text = new TextDecoder().decode(out.stdout) || new TextDecoder().decode(out.stderr);
    return out.success || text ? text : null;
  } catch {
    return null;
  }
}

/** landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version, or the errno. */
function landlockAbi(): number | { errno: number } {
  const nr = (Deno.build.arch === "aarch64" ? AARCH64_SYSCALLS : X86_64_SYSCALLS).landlock_create_ruleset;
  if (nr === undefined) return { errno: 38 };
  const lib = Deno.dlopen("libc.so.6", { syscall: { parameters: ["i64", "pointer", "usize", "u32"], result: "i64" } });
  try {
    const r = Number(lib.symbols.syscall(BigInt(nr), null, 0n, 1));
    return r >= 0 ? r : { errno: errno() };
  } finally {
    lib.close();
  }
}

/** This host, as `nsbox doctor` reads it. */
export function realDoctorFacts(): DoctorFacts {
  const host = realHost();
  const path = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").concat(["/usr/sbin", "/sbin"]);
  return {
    uid: host.uid,
    gid: host.gid,
    get userName() {
      return host.userName;
    },
    kernelRelease: host.kernelRelease,
    arch: host.arch,
    env: host.env,
    execPath: Deno.execPath(),
    readText: host.readText,
    stat(p: string): PathStat | null {
      try {
        const st = Deno.statSync(p);
        const kind = st.isFile
          ? "file"
          : st.isDirectory
          ? "directory"
          : st.isSocket
          ? "socket"
          : st.isCharDevice
          ? "char"
          : "other";
        return { kind, mode: (st.mode ?? 0) & 0o7777, uid: st.uid ?? -1 };
      } catch {
        return null;
      }
    },
    canOpenReadWrite(p: string): boolean {
      try {
        Deno.openSync(p, { read: true, write: true }).close();
        return true;
      } catch {
        return false;
      }
    },
    which(program: string): string | null {
      for (const d of path) {
        try {
          if ((Deno.statSync(`${d}/${program}`).mode ?? 0) & 0o111) return `${d}/${program}`;
        } catch {
          // not here
        }
      }
      return null;
    },
    versionOf(program: string): string | null {
      return output(program, ["--version"])?.split("\n")[0] ?? null;
    },
    packageVersion(name: string): string | null {
      const v = output("dpkg-query", ["-W", "-f", "${Version}", name])?.trim();
      return v && !/no packages found/i.test(v) ? v : null;
    },
    landlockAbi,
    async tryRun() {
      try {
        const { run } = await import("../run.ts");
        const result = await run({ command: ["true"] });
        if (result.exitCode === 0) return { ok: true } as const;
        return { ok: false, message: `it exited ${result.exitCode}`, hint: null } as const;
      } catch (e) {
        if (e instanceof NsboxError) return { ok: false, message: e.message, hint: e.hint ?? null } as const;
        return { ok: false, message: e instanceof Error ? e.message : String(e), hint: null } as const;
      }
    },
  };
}
