import assert from "node:assert/strict";
import { formatSize, parseDecimal, parseSize, parseWhole } from "../../src/spec/units.ts";

const K = 1024, M = 1024 ** 2, G = 1024 ** 3, T = 1024 ** 4;

Deno.test("parseSize() accepts plain byte counts", () => {
  assert.equal(parseSize("0"), 0);
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize("  4096  "), 4096);
  assert.equal(parseSize("4096b"), 4096);
  assert.equal(parseSize("4096B"), 4096);
});

Deno.test("parseSize() accepts binary units in any case, with b, B, ib or iB after them", () => {
  for (
    const [text, bytes] of [
      ["512k", 512 * K],
      ["512K", 512 * K],
      ["512kb", 512 * K],
      ["512KiB", 512 * K],
      ["100M", 100 * M],
      ["100MiB", 100 * M],
      ["100mb", 100 * M],
      ["2g", 2 * G],
      ["2GiB", 2 * G],
      ["1t", T],
      ["1TB", T],
      ["10 M", 10 * M],
    ] as const
  ) {
    assert.equal(parseSize(text), bytes, text);
  }
});

Deno.test("parseSize() accepts decimals and rounds down to whole bytes", () => {
  assert.equal(parseSize("1.5G"), 1610612736);
  assert.equal(parseSize("0.5k"), 512);
  assert.equal(parseSize("1.5"), 1);
  assert.equal(parseSize("0.001k"), 1);
  assert.equal(parseSize("0.0001k"), 0);
  assert.equal(parseSize("2.25M"), 2359296);
});

Deno.test("parseSize() refuses what is not a size", () => {
  for (
    const text of [
      "",
      " ",
      "k",
      "M",
      "-1",
      "-1M",
      "+1M",
      "1e3",
      "1.",
      ".5k",
      "1..5k",
      "1,5M",
      "1P",
      "1X",
      "1 2",
      "0x10",
      "1MM",
    ]
  ) {
    assert.equal(parseSize(text), null, JSON.stringify(text));
  }
});

Deno.test("parseSize() refuses sizes beyond 2^53 bytes", () => {
  assert.equal(parseSize("8191T"), 8191 * T);
  assert.equal(parseSize("8192T"), null); // 2^53
  assert.equal(parseSize("99999999999999999999"), null);
  assert.equal(parseSize("9007199254740991"), Number.MAX_SAFE_INTEGER);
});

Deno.test("formatSize() uses the largest unit, with at most one decimal", () => {
  assert.equal(formatSize(0), "0");
  assert.equal(formatSize(1), "1");
  assert.equal(formatSize(1023), "1023");
  assert.equal(formatSize(K), "1k");
  assert.equal(formatSize(1536), "1.5k");
  assert.equal(formatSize(100 * M), "100M");
  assert.equal(formatSize(104857600), "100M");
  assert.equal(formatSize(1.5 * G), "1.5G");
  assert.equal(formatSize(G), "1G");
  assert.equal(formatSize(2 * T), "2T");
  assert.equal(formatSize(2048 * T), "2048T");
  assert.equal(formatSize(1.25 * M), "1.3M");
  assert.equal(formatSize(M + 1), "1M");
});

Deno.test("formatSize() never shows 1024 of a unit when the next one fits", () => {
  assert.equal(formatSize(M - 1), "1M");
  assert.equal(formatSize(G - 1), "1G");
  assert.equal(formatSize(T - 1), "1T");
  assert.equal(formatSize(M - 50), "1M");
});

Deno.test("formatSize() output parses back to about the same size", () => {
  for (const bytes of [0, 1, 1000, K, 1536, 100 * M, 1.5 * G, 3 * T, 123456789]) {
    const back = parseSize(formatSize(bytes));
    assert.ok(back !== null, formatSize(bytes));
    assert.ok(Math.abs(back - bytes) <= bytes * 0.05, `${bytes} → ${formatSize(bytes)} → ${back}`);
  }
});

Deno.test("parseDecimal() accepts non-negative decimals", () => {
  assert.equal(parseDecimal("0.5"), 0.5);
  assert.equal(parseDecimal("2"), 2);
  assert.equal(parseDecimal("0"), 0);
  assert.equal(parseDecimal("10.25"), 10.25);
  assert.equal(parseDecimal(" 1.5 "), 1.5);
  assert.equal(parseDecimal("007"), 7);
});

Deno.test("parseDecimal() refuses signs, exponents, bare points and words", () => {
  for (
    const text of ["", " ", "-1", "+1", "1e3", "1.", ".5", "1.2.3", "0x10", "NaN", "Infinity", "one", "1,5", "1 2"]
  ) {
    assert.equal(parseDecimal(text), null, JSON.stringify(text));
  }
});

Deno.test("parseWhole() accepts whole numbers up to 2^53-1", () => {
  assert.equal(parseWhole("0"), 0);
  assert.equal(parseWhole("42"), 42);
  assert.equal(parseWhole("007"), 7);
  assert.equal(parseWhole(" 5 "), 5);
  assert.equal(parseWhole("9007199254740991"), Number.MAX_SAFE_INTEGER);
});

Deno.test("parseWhole() refuses fractions, signs, huge numbers and words", () => {
  for (const text of ["", " ", "-1", "+1", "1.0", "1.5", "1e3", "0x10", "9007199254740992", "1".repeat(30), "ten"]) {
    assert.equal(parseWhole(text), null, JSON.stringify(text));
  }
});
