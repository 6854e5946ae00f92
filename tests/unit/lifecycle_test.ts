/**
 * The pure parts of src/state/lifecycle.ts: signal names and the `nsbox ps` table.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseSignal, psTable, type SandboxInfo } from "../../src/state/lifecycle.ts";

Deno.test("parseSignal() reads names with or without SIG, in any case", () => {
  for (
    const [text, n] of [
      ["TERM", 15],
      ["SIGTERM", 15],
      ["term", 15],
      ["sigterm", 15],
      ["SigTerm", 15],
      ["KILL", 9],
      ["SIGKILL", 9],
      ["HUP", 1],
      ["INT", 2],
      ["usr1", 10],
      ["SIGUSR2", 12],
      ["WINCH", 28],
      ["CHLD", 17],
      ["SIGSYS", 31],
    ] as const
  ) {
    assert.equal(parseSignal(text), n, text);
  }
});

Deno.test("parseSignal() reads numbers from 1 to 64", () => {
  assert.equal(parseSignal("1"), 1);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("15"), 15);
  assert.equal(parseSignal("34"), 34);
  assert.equal(parseSignal("64"), 64);
  assert.equal(parseSignal("09"), 9);
});

Deno.test("parseSignal() refuses 0, numbers above 64 and unknown names", () => {
  for (
    const text of [
      "0",
      "00",
      "65",
      "100",
      "99999999999",
      "-9",
      "+9",
      "9.0",
      " 9",
      "",
      "SIG",
      "SIGFOO",
      "FOO",
      "SIG9",
      "TERM ",
    ]
  ) {
    assert.equal(parseSignal(text), null, JSON.stringify(text));
  }
  for (const text of ["constructor", "toString", "__proto__", "hasOwnProperty", "SIGconstructor"]) {
    assert.equal(parseSignal(text), null, text);
  }
});

function row(init: Partial<SandboxInfo> = {}): SandboxInfo {
  return {
    name: "web",
    pid: 4242,
    command: ["python3", "-m", "http.server"],
    started: "2024-01-01T00:00:00.000Z",
    uptimeSeconds: 75,
    memoryMax: 104857600,
    net: "pasta",
    detached: true,
    status: "running",
    exitCode: null,
    signal: null,
    supervisorPid: 4241,
    ports: [],
    notes: [],
    ...init,
  };
}

/** The table's cells: each line cut at the columns where the header's words start. */
function cells(table: string): string[][] {
  const [head, ...rest] = table.split("\n");
  const starts = [...head!.matchAll(/\S+/g)].map((m) => m.index!);
  return [head!, ...rest].map((line) =>
    starts.map((s, i) => {
      if (i > 0) assert.equal(line.slice(s - 2, s), "  ", `no gap before column ${i} in ${JSON.stringify(line)}`);
      return line.slice(s, starts[i + 1] ?? line.length).trimEnd();
    })
  );
}

Deno.test("psTable() has a header and one aligned row per sandbox", () => {
  const table = psTable([
    row(),
    row({ name: "a-much-longer-name", pid: 7, command: ["sleep", "1000"], uptimeSeconds: 5, net: "none" }),
  ]);
  assert.deepEqual(cells(table), [
    ["NAME", "PID", "COMMAND", "UPTIME", "MEMORY", "NET"],
    ["web", "4242", "python3 -m http.server", "1m15s", "100M", "pasta"],
    ["a-much-longer-name", "7", "sleep 1000", "5s", "100M", "none"],
  ]);
  const lines = table.split("\n");
  assert.equal(lines.length, 3);
  for (const line of lines) assert.equal(line, line.trimEnd(), "trailing spaces");
  assert.match(lines[0]!, /^NAME {16}PID {3}COMMAND/);
});

Deno.test("psTable() adds a NOTES column only when a sandbox has a note, - for the others", () => {
  const note = "log: output dropped (No space left on device)";
  assert.deepEqual(cells(psTable([row(), row({ name: "b", notes: [note] })]))[0]!.at(-1), "NOTES");
  const table = psTable([row({ name: "a" }), row({ name: "b", notes: [note] })], true);
  assert.deepEqual(table.split("\n").map((l) => l.split(/  +/).at(-1)), ["NOTES", "-", note]);
  assert.doesNotMatch(psTable([row()]), /NOTES/);
});

Deno.test("psTable() shows - for what is not known", () => {
  const table = psTable([row({ pid: null, command: [], uptimeSeconds: null, memoryMax: null, net: "-" })]);
  assert.deepEqual(cells(table)[1], ["web", "-", "-", "-", "-", "-"]);
});

Deno.test("psTable() writes uptimes in s, m, h and d", () => {
  const uptime = (s: number) => cells(psTable([row({ uptimeSeconds: s })]))[1]![3];
  assert.equal(uptime(0), "0s");
  assert.equal(uptime(59), "59s");
  assert.equal(uptime(60), "1m0s");
  assert.equal(uptime(3599), "59m59s");
  assert.equal(uptime(3600), "1h0m");
  assert.equal(uptime(3661), "1h1m");
  assert.equal(uptime(86399), "23h59m");
  assert.equal(uptime(86400), "1d0h");
  assert.equal(uptime(90061), "1d1h");
  assert.equal(uptime(10 * 86400 + 5 * 3600 + 7), "10d5h");
});

Deno.test("psTable() formats the memory limit with a binary unit", () => {
  const memory = (m: number) => cells(psTable([row({ memoryMax: m })]))[1]![4];
  assert.equal(memory(104857600), "100M");
  assert.equal(memory(1.5 * 1024 ** 3), "1.5G");
  assert.equal(memory(512 * 1024), "512k");
});

Deno.test("psTable() cuts long commands to 40 characters", () => {
  const long = ["sh", "-c", "x".repeat(100)];
  const command = cells(psTable([row({ command: long })]))[1]![2]!;
  assert.equal(command.length, 40);
  assert.equal(command, long.join(" ").slice(0, 40));
});

Deno.test("psTable() adds a STATUS column with all", () => {
  const rows = [
    row(),
    row({ name: "old", pid: null, command: [], uptimeSeconds: null, memoryMax: null, net: "-", status: "exited 3" }),
  ];
  assert.deepEqual(cells(psTable(rows, true)), [
    ["NAME", "PID", "COMMAND", "UPTIME", "MEMORY", "NET", "STATUS"],
    ["web", "4242", "python3 -m http.server", "1m15s", "100M", "pasta", "running"],
    ["old", "-", "-", "-", "-", "-", "exited 3"],
  ]);
  assert.ok(!psTable(rows).includes("STATUS"));
  assert.ok(!psTable(rows).includes("exited"));
  for (const line of psTable(rows, true).split("\n")) assert.equal(line, line.trimEnd());
});

Deno.test("psTable() of no sandboxes is the header alone", () => {
  assert.equal(psTable([]), "NAME  PID  COMMAND  UPTIME  MEMORY  NET");
  assert.equal(psTable([], true), "NAME  PID  COMMAND  UPTIME  MEMORY  NET  STATUS");
});
