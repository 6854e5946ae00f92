/**
 * nsbox's version: the one constant that `nsbox --version`, `nsbox version`
 * and the library report.
 *
 * @module
 */

/** nsbox's version (semantic versioning). */
export const VERSION = "0.1.0";
