import { randomBytes } from "node:crypto";

/**
 * A fresh random password for a nats-server user (256 bits, base64url: safe in a URL's userinfo and
 * in a NATS config string). Goes into config models and files; never into logs.
 */
export function randomPassword(): string {
  return randomBytes(32).toString("base64url");
}
