import { afterEach, describe, expect, it } from "vitest";
import {
  findNatsServer,
  isSupportedNatsServerVersion,
  NATS_SERVER_ENV,
  NatsServerNotFoundError,
} from "./nats-binary.js";

const saved = process.env[NATS_SERVER_ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[NATS_SERVER_ENV];
  else process.env[NATS_SERVER_ENV] = saved;
});

describe("findNatsServer", () => {
  it("accepts 2.10 and later only", () => {
    expect(isSupportedNatsServerVersion("2.10.0")).toBe(true);
    expect(isSupportedNatsServerVersion("2.11.3")).toBe(true);
    expect(isSupportedNatsServerVersion("3.0.0")).toBe(true);
    expect(isSupportedNatsServerVersion("2.9.25")).toBe(false);
  });

  it("fails on an unusable $TREMESH_NATS_SERVER instead of looking elsewhere, and says how to fix it", () => {
    process.env[NATS_SERVER_ENV] = "/nonexistent/nats-server";
    expect(() => findNatsServer()).toThrow(NatsServerNotFoundError);
    expect(() => findNatsServer()).toThrow(/npm run setup.*TREMESH_NATS_SERVER/);
  });
});
