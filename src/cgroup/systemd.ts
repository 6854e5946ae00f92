/**
 * A transient systemd scope on the user's bus, as rootless crun and podman
 * make one: StartTransientUnit with the child's pid, Delegate=yes and the
 * limits as properties; wait for its job to finish; then nsbox owns the
 * scope's cgroup subtree.
 *
 * @module
 */
import { getSdBus, type SdBus } from "../../ffi/libsystemd.ts";
import { cString } from "../../ffi/libc.ts";
import { NsboxError, OsError } from "../errors.ts";
import type { LimitsSpec } from "../spec/spec.ts";

/** Returns `r` when it is not negative; otherwise throws an OsError for `what` with errno `-r` (sd-bus's convention). */
function busCheck(r: number, what: string): number {
  if (r < 0) throw new OsError(what, -r);
  return r;
}

const SYSTEMD = "org.freedesktop.systemd1";
const SYSTEMD_PATH = "/org/freedesktop/systemd1";
const MANAGER = "org.freedesktop.systemd1.Manager";

/** A D-Bus property value for StartTransientUnit. */
export type PropertyValue =
  | { readonly type: "s"; readonly value: string }
  | { readonly type: "b"; readonly value: boolean }
  | { readonly type: "t"; readonly value: number }
  | { readonly type: "au"; readonly value: readonly number[] };

/** The properties of the scope for `pid` with `limits`; pure, for tests. */
export function scopeProperties(
  pid: number,
  limits: LimitsSpec,
  description: string,
): Array<[string, PropertyValue]> {
  const props: Array<[string, PropertyValue]> = [
    ["Description", { type: "s", value: description }],
    ["PIDs", { type: "au", value: [pid] }],
    ["Delegate", { type: "b", value: true }],
    ["CollectMode", { type: "s", value: "inactive-or-failed" }],
    ["OOMPolicy", { type: "s", value: "continue" }],
  ];
  if (limits.memoryMax !== null) props.push(["MemoryMax", { type: "t", value: limits.memoryMax }]);
  if (limits.swapMax !== null) props.push(["MemorySwapMax", { type: "t", value: limits.swapMax }]);
  if (limits.cpus !== null) {
    props.push(["CPUQuotaPerSecUSec", { type: "t", value: Math.round(limits.cpus * 1_000_000) }]);
  }
  if (limits.pidsMax !== null) props.push(["TasksMax", { type: "t", value: limits.pidsMax }]);
  if (limits.ioWeight !== null) props.push(["IOWeight", { type: "t", value: limits.ioWeight }]);
  return props;
}

/** One open connection to the user's bus. */
class UserBus implements Disposable {
  readonly #lib: SdBus;
  readonly #bus: Deno.PointerObject;
  // strings handed to sd-bus must outlive the calls that copy them
  #keep: Uint8Array[] = [];

  constructor(lib: SdBus) {
    this.#lib = lib;
    const out = new BigUint64Array(1);
    const r = lib.sd_bus_open_user(new Uint8Array(out.buffer));
    if (r < 0) {
      throw new OsError("cannot connect to the user's systemd (the user bus)", -r, {
        hint: "log in through a systemd session (or `loginctl enable-linger $USER`) with dbus-user-session installed",
      });
    }
    this.#bus = Deno.UnsafePointer.create(out[0]!)!;
  }

  #str(s: string): Uint8Array {
    const b = cString(s);
    this.#keep.push(b);
    return b;
  }

  #newCall(dest: string, path: string, iface: string, member: string): Deno.PointerObject {
    const out = new BigUint64Array(1);
    busCheck(
      this.#lib.sd_bus_message_new_method_call(
        this.#bus,
        new Uint8Array(out.buffer),
        this.#str(dest),
        this.#str(path),
        this.#str(iface),
        this.#str(member),
      ),
      `cannot build the D-Bus call ${member}`,
    );
    return Deno.UnsafePointer.create(out[0]!)!;
  }

  #append(m: Deno.PointerObject, type: string, value: string | number | boolean) {
    const code = type.charCodeAt(0);
    let buf: Uint8Array;
    if (type === "s" || type === "o") buf = this.#str(value as string);
    else if (type === "b") buf = new Uint8Array(new Int32Array([value ? 1 : 0]).buffer);
    else if (type === "u") buf = new Uint8Array(new Uint32Array([value as number]).buffer);
    else buf = new Uint8Array(new BigUint64Array([BigInt(value as number)]).buffer);
    busCheck(this.#lib.sd_bus_message_append_basic(m, code, buf), "cannot build a D-Bus message");
  }

  #open(m: Deno.PointerObject, type: string, contents: string) {
    busCheck(
      this.#lib.sd_bus_message_open_container(m, type.charCodeAt(0), this.#str(contents)),
      "cannot build a D-Bus message",
    );
  }

  #close(m: Deno.PointerObject) {
    busCheck(this.#lib.sd_bus_message_close_container(m), "cannot build a D-Bus message");
  }

  /** Sends `m` and returns the reply (caller unrefs), or throws with the D-Bus error. */
  #call(m: Deno.PointerObject, what: string): Deno.PointerObject {
    const error = new Uint8Array(24); // sd_bus_error {name, message, _need_free}
    const reply = new BigUint64Array(1);
    const r = this.#lib.sd_bus_call(this.#bus, m, 25_000_000n, error, new Uint8Array(reply.buffer));
    this.#lib.sd_bus_message_unref(m);
    if (r < 0) {
      const view = new DataView(error.buffer);
      const msgPtr = Deno.UnsafePointer.create(view.getBigUint64(8, true));
      const detail = msgPtr ? new Deno.UnsafePointerView(msgPtr).getCString() : "";
      this.#lib.sd_bus_error_free(error);
      throw new OsError(`${what}${detail ? ` (${detail})` : ""}`, -r);
    }
    return Deno.UnsafePointer.create(reply[0]!)!;
  }

  #readString(m: Deno.PointerObject, type: "s" | "o"): string {
    const out = new BigUint64Array(1);
    busCheck(this.#lib.sd_bus_message_read_basic(m, type.charCodeAt(0), new Uint8Array(out.buffer)), "bad D-Bus reply");
    return new Deno.UnsafePointerView(Deno.UnsafePointer.create(out[0]!)!).getCString();
  }

  /** Calls a method with only string arguments, discarding the reply. */
  callStrings(dest: string, path: string, iface: string, member: string, args: readonly string[]) {
    const m = this.#newCall(dest, path, iface, member);
    for (const a of args) this.#append(m, "s", a);
    this.#lib.sd_bus_message_unref(this.#call(m, `D-Bus ${member} failed`));
  }

  /** StartTransientUnit(name, "fail", properties, []) → job object path. */
  startTransientUnit(name: string, props: ReadonlyArray<[string, PropertyValue]>): string {
    const m = this.#newCall(SYSTEMD, SYSTEMD_PATH, MANAGER, "StartTransientUnit");
    this.#append(m, "s", name);
    this.#append(m, "s", "fail");
    this.#open(m, "a", "(sv)");
    for (const [key, v] of props) {
      this.#open(m, "r", "sv");
      this.#append(m, "s", key);
      this.#open(m, "v", v.type);
      if (v.type === "au") {
        this.#open(m, "a", "u");
        for (const x of v.value) this.#append(m, "u", x);
        this.#close(m);
      } else this.#append(m, v.type, v.value);
      this.#close(m);
      this.#close(m);
    }
    this.#close(m);
    this.#open(m, "a", "(sa(sv))");
    this.#close(m);
    const reply = this.#call(m, `systemd refused to start ${name}`);
    try {
      return this.#readString(reply, "o");
    } finally {
      this.#lib.sd_bus_message_unref(reply);
    }
  }

  /** Waits for JobRemoved of `job`; returns its result ("done", "failed", ...). */
  waitJob(job: string, timeoutMs: number): string {
    const deadline = performance.now() + timeoutMs;
    const iface = this.#str(MANAGER), member = this.#str("JobRemoved");
    for (;;) {
      const out = new BigUint64Array(1);
      const r = busCheck(this.#lib.sd_bus_process(this.#bus, new Uint8Array(out.buffer)), "D-Bus connection failed");
      const msg = Deno.UnsafePointer.create(out[0]!);
      if (msg) {
        try {
          if (this.#lib.sd_bus_message_is_signal(msg, iface, member) > 0) {
            const id = new Uint32Array(1);
            busCheck(
              this.#lib.sd_bus_message_read_basic(msg, "u".charCodeAt(0), new Uint8Array(id.buffer)),
              "bad signal",
            );
            const path = this.#readString(msg, "o");
            this.#readString(msg, "s"); // unit
            const result = this.#readString(msg, "s");
            if (path === job) return result;
          }
        } finally {
          this.#lib.sd_bus_message_unref(msg);
        }
      }
      if (r > 0) continue;
      const left = deadline - performance.now();
      if (left <= 0) throw new NsboxError(`systemd did not start the scope within ${timeoutMs / 1000} s`);
      busCheck(this.#lib.sd_bus_wait(this.#bus, BigInt(Math.ceil(left * 1000))), "D-Bus connection failed");
    }
  }

  [Symbol.dispose]() {
    this.#lib.sd_bus_flush_close_unref(this.#bus);
    this.#keep = [];
  }
}

/**
 * Puts `pid` in a new transient scope `unit` with `limits` on the user's
 * systemd manager and waits until it runs. Throws an NsboxError saying why
 * when there is no user bus or systemd refuses.
 */
export function startScope(unit: string, pid: number, limits: LimitsSpec, description: string): void {
  const lib = getSdBus();
  if (!lib) throw new NsboxError("libsystemd is not installed", { hint: "install the libsystemd0 package" });
  using bus = new UserBus(lib);
  bus.callStrings("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", [
    `type='signal',sender='${SYSTEMD}',path='${SYSTEMD_PATH}',interface='${MANAGER}',member='JobRemoved'`,
  ]);
  bus.callStrings(SYSTEMD, SYSTEMD_PATH, MANAGER, "Subscribe", []);
  const job = bus.startTransientUnit(unit, scopeProperties(pid, limits, description));
  const result = bus.waitJob(job, 30_000);
  if (result !== "done") throw new NsboxError(`systemd could not start ${unit}: job ${result}`);
}
