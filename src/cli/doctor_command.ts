/**
 * `nsbox doctor [--json]`.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { doctorText, runDoctor } from "../doctor/doctor.ts";
import { realDoctorFacts } from "../doctor/facts.ts";
import { DOCTOR } from "./flags.ts";
import { commandHelp } from "./help.ts";
import { has, parseArgs } from "./parse.ts";

/** `nsbox doctor`: exits 0 when a default sandbox runs here, 1 when it does not. */
export async function doctorCommand(args: readonly string[]): Promise<number> {
  const parsed = parseArgs(DOCTOR, args);
  if (has(parsed, "help")) {
    console.log(commandHelp(DOCTOR));
    return 0;
  }
  if (parsed.operands.length) throw new UsageError([`doctor: takes no arguments, got '${parsed.operands[0]}'.`]);
  const report = await runDoctor(realDoctorFacts());
  console.log(has(parsed, "json") ? JSON.stringify(report, null, 2) : doctorText(report));
  return report.ok ? 0 : 1;
}
