/**
 * The interface tremesh binds when none is configured: loopback, so exposing a hub or a leaf is always a
 * deployment decision written in its config, never a default.
 */
export const LOOPBACK_HOST = "127.0.0.1";
