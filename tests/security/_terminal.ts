/**
 * Running a Python attack in a sandbox on a terminal: nsbox is started on a
 * new pseudo-terminal (util-linux `script`), as in an interactive session, so
 * the command inherits a terminal as the caller's shell would lend it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PY_PRELUDE, results, startInPty } from "./_lib.ts";

/** Runs the Python `script` in a sandbox with `flags` on a terminal: its results, and everything the terminal showed. */
export async function onTerminal(
  script: string,
  flags: readonly string[] = [],
): Promise<{ r: Record<string, string>; shown: string }> {
  await using running = startInPty(["run", ...flags, "--", "python3", "-c", PY_PRELUDE + script]);
  const ran = await running.finish();
  const shown = ran.stdout.replaceAll("\r", "");
  assert.equal(ran.code, 0, shown + ran.stderr);
  return { r: results({ ...ran, stdout: shown }), shown };
}
