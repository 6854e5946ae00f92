/**
 * nsbox's command-line entry point: `nsbox run [OPTIONS] -- CMD [ARGS...]`.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";

Deno.exit(await main(Deno.args));
