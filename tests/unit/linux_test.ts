import assert from "node:assert/strict";
import { signalName, signalNames, SIGNALS } from "../../src/linux.ts";

Deno.test("signalNames() names every signal number as signalName() does (the supervisor's table)", () => {
  const names = signalNames();
  assert.equal(names.length, 65);
  assert.equal(names[0], "");
  for (let n = 1; n <= 64; n++) assert.equal(names[n], signalName(n), `signal ${n}`);
  assert.equal(names[9], "SIGKILL");
  assert.equal(names[34], "SIGRTMIN+0");
  assert.equal(names[64], "SIGRTMIN+30");
  assert.equal(names[32], "signal 32"); // glibc's own, no name
});

Deno.test("SIGNALS: every number once, all standard signals (1..31)", () => {
  const numbers = Object.values(SIGNALS);
  assert.equal(new Set(numbers).size, numbers.length);
  assert.ok(numbers.every((n) => n >= 1 && n <= 31));
});
