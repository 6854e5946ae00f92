/**
 * The floor contender of `deno task bench`: the least a sandbox started the
 * way nsbox's design says can cost — Deno, the C helper loaded through a
 * memfd, clone of the very plan nsbox would run for `nsbox run -- true`
 * (made beforehand by scripts/bench/floor_plan.ts), the id maps written from
 * TypeScript, the child released and waited for. Nothing else: no option
 * parsing, validation, planning or encoding, no state record, no supervisor,
 * no error handling. nsbox − floor is what nsbox's own TypeScript costs;
 * floor − empty `deno run` is what no implementation of this design avoids.
 *
 *     deno run -A --unstable-raw-imports scripts/bench/floor.ts PLAN
 *
 * @module
 */
import helperBytes from "../../ffi/build/libnsbox_helper.so" with { type: "bytes" };
import initBytes from "../../ffi/build/nsbox-init" with { type: "bytes" };
import type { FloorMaps } from "./floor_plan.ts";

const libc = Deno.dlopen(
  "libc.so.6",
  {
    /** int memfd_create(const char *name, unsigned int flags) */
    memfd_create: { parameters: ["buffer", /* const char * */ "u32" /* unsigned int */], result: "i32" },
    /** ssize_t write(int fd, const void *buf, size_t count) */
    write: { parameters: ["i32", /* int */ "buffer", /* const void * */ "usize" /* size_t */], result: "isize" },
    /** int close(int fd) */
    close: { parameters: ["i32" /* int */], result: "i32" },
    /** int fchmod(int fd, mode_t mode) */
    fchmod: { parameters: ["i32", /* int */ "u32" /* mode_t */], result: "i32" },
    /** int waitid(idtype_t idtype, id_t id, siginfo_t *infop, int options) */
    waitid: {
      parameters: ["i32", /* idtype_t */ "i32", /* id_t */ "buffer", /* siginfo_t * */ "i32" /* int */],
      result: "i32",
    },
  } as const satisfies Deno.ForeignLibraryInterface,
).symbols;

const MFD_CLOEXEC = 1, P_PIDFD = 3, WEXITED = 4;

function memfd(name: string, bytes: Uint8Array): number {
  const fd = libc.memfd_create(new TextEncoder().encode(`${name}\0`), MFD_CLOEXEC);
  if (fd < 0 || libc.write(fd, bytes, BigInt(bytes.length)) !== BigInt(bytes.length)) throw new Error(`memfd ${name}`);
  return fd;
}

const planPath = Deno.args[0]!;
const plan = Deno.readFileSync(planPath);
const maps: FloorMaps = JSON.parse(Deno.readTextFileSync(`${planPath}.json`));
const helper = Deno.dlopen(
  `/proc/self/fd/${memfd("nsbox-helper", helperBytes)}`,
  {
    /** int nsbox_spawn(const struct nsbox_plan *plan, int32_t exe_fd, int32_t plan_fd, const int32_t *keep, int32_t nkeep, struct nsbox_spawn_result *out) */
    nsbox_spawn: {
      parameters: [
        "buffer",
        /* plan */ "i32",
        /* exe_fd */ "i32",
        /* plan_fd */ "buffer",
        /* keep */ "i32",
        /* nkeep */ "buffer", /* out */
      ],
      result: "i32",
    },
  } as const satisfies Deno.ForeignLibraryInterface,
).symbols;
const init = memfd("nsbox-init", initBytes);
libc.fchmod(init, 0o555);
const out = new Int32Array(4);
const r = helper.nsbox_spawn(plan, init, memfd("nsbox-plan", plan), new Uint8Array(0), 0, new Uint8Array(out.buffer));
if (r < 0) throw new Error(`nsbox_spawn: errno ${-r}`);
const [pid, pidfd, syncFd] = out as unknown as [number, number, number];
Deno.writeTextFileSync(`/proc/${pid}/uid_map`, maps.uidMap);
Deno.writeTextFileSync(`/proc/${pid}/setgroups`, maps.setgroups);
Deno.writeTextFileSync(`/proc/${pid}/gid_map`, maps.gidMap);
libc.write(syncFd, new Uint8Array([1]), 1n); // released: it sets itself up and runs `true`
libc.waitid(P_PIDFD, pidfd, new Uint8Array(128), WEXITED);
