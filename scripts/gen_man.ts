/**
 * Writes docs/nsbox.1 from the flag table and help texts (`deno task man`).
 * tests/unit/man_test.ts fails when the committed page differs from what this writes.
 */
import { manPage } from "../src/cli/man.ts";

const target = new URL("../docs/nsbox.1", import.meta.url);
Deno.writeTextFileSync(target, manPage());
console.log(`wrote ${decodeURIComponent(target.pathname)}`);
