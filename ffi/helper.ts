/**
 * The C helper's symbol table (ffi/nsbox_helper.c, ABI in ffi/nsbox_helper.h).
 * The helper and the static nsbox-init built from the same source are
 * embedded and loaded by src/spawn/embedded.ts.
 *
 * @module
 */

/** The helper's symbols; each parameter is commented with its C type. */
export const HELPER_SYMBOLS = {
  /**
   * int nsbox_spawn(const struct nsbox_plan *plan, int32_t exe_fd, int32_t plan_fd, const int32_t *keep,
   * int32_t nkeep, struct nsbox_spawn_result *out)
   */
  nsbox_spawn: {
    parameters: [
      "buffer", // const struct nsbox_plan *plan
      "i32", // int32_t exe_fd
      "i32", // int32_t plan_fd
      "buffer", // const int32_t *keep
      "i32", // int32_t nkeep
      "buffer", // struct nsbox_spawn_result *out
    ],
    result: "i32",
  },
  /** int nsbox_forward_signals(int32_t pidfd, uint64_t forward) */
  nsbox_forward_signals: { parameters: ["i32", /* int32_t pidfd */ "u64" /* uint64_t forward */], result: "i32" },
  /**
   * int nsbox_exec_supervisor(int exe_fd, char *const *argv, const int32_t *keep, int32_t nkeep, uint64_t block):
   * returns only on failure (-errno).
   */
  nsbox_exec_supervisor: {
    parameters: [
      "i32", // int exe_fd
      "buffer", // char *const *argv
      "buffer", // const int32_t *keep
      "i32", // int32_t nkeep
      "u64", // uint64_t block
    ],
    result: "i32",
  },
  /** int32_t nsbox_fault_injection(void): 1 in the test build only (NSBOX_FAULTS), where NSBOX_FAULT is honoured */
  nsbox_fault_injection: { parameters: [], result: "i32" },
  /** uint32_t nsbox_abi_version(void) */
  nsbox_abi_version: { parameters: [], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened helper's symbols. */
export type Helper = Deno.DynamicLibrary<typeof HELPER_SYMBOLS>["symbols"];
