import assert from "node:assert/strict";
import { DENO_RUN_ARGS, nsboxCommand } from "../../src/spawn/daemon.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const FLAGS = DENO_RUN_ARGS.filter((a) => a !== "run");

Deno.test("scripts/nsbox runs main.ts with DENO_RUN_ARGS (the code cache is made under the same V8 flags)", () => {
  const exec = Deno.readTextFileSync(`${ROOT}scripts/nsbox`).split("\n").find((l) => l.startsWith("exec "));
  assert.ok(exec, "scripts/nsbox has an exec line");
  assert.equal(exec, `exec "$nsbox_deno" ${DENO_RUN_ARGS.join(" ")} "$nsbox_main" "$@"`);
});

Deno.test("scripts/compile.sh compiles with DENO_RUN_ARGS' flags", () => {
  const line = Deno.readTextFileSync(`${ROOT}scripts/compile.sh`).split("\n").find((l) => / compile /.test(l));
  assert.ok(line, "scripts/compile.sh runs deno compile");
  for (const flag of FLAGS) if (flag !== "--quiet") assert.ok(line.split(" ").includes(flag), `${flag} in: ${line}`);
  // nsbox imports no npm package: node_modules (the pinned Deno, ~95 MB) stays out of the binary
  assert.match(line, / --exclude node_modules /);
});

Deno.test("nsboxCommand() starts this checkout's main.ts with DENO_RUN_ARGS", () => {
  const argv = nsboxCommand();
  assert.deepEqual(argv.slice(1), [...DENO_RUN_ARGS, `${ROOT}main.ts`]);
  const v8 = DENO_RUN_ARGS.find((a) => a.startsWith("--v8-flags="))?.slice("--v8-flags=".length).split(",");
  assert.ok(v8?.includes("--no-lazy"), "the code cache holds every function");
  assert.ok(v8?.includes("--single-threaded"), "no V8 background threads");
});
