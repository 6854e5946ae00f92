/**
 * How `nsbox run --detach` tells the supervisor it starts that the sandbox's
 * name is already claimed for it.
 *
 * @module
 */

/** The environment variable that carries the claimed name. */
export const DETACHED_ENV = "NSBOX_DETACHED_NAME";
