import { describe, expect, it } from "vitest";
import { startFailure } from "./nats-start-failure.js";

/** Lines as nats-server 2.10.27 writes them to its log. */
const line = (level: string, text: string) => `[31607] 2026/12/07 19:34:39.260336 [${level}] ${text}`;
const START = [line("INF", "Starting nats-server"), line("INF", "  Version:  2.10.27")];

describe("startFailure", () => {
  it.each([
    [
      "Error listening on leafnode port: 24936 - listen tcp 127.0.0.1:24936: bind: address already in use",
      "leafnode port 24936 (127.0.0.1) is already in use",
      "leafnode",
    ],
    [
      'Error listening on port: 127.0.0.1:24930, "listen tcp 127.0.0.1:24930: bind: address already in use"',
      "client port 24930 (127.0.0.1) is already in use",
      "client",
    ],
    [
      "Can't start monitoring: can't listen to the monitor port: listen tcp 127.0.0.1:24938: bind: address already in use",
      "monitoring port 24938 (127.0.0.1) is already in use",
      "monitoring",
    ],
    [
      'Error listening on port: 10.9.9.9:4999, "listen tcp 10.9.9.9:4999: bind: cannot assign requested address"',
      "client port 4999 (10.9.9.9) cannot be listened on: cannot assign requested address",
      "client",
    ],
    [
      "Error listening on router port: 6222 - listen tcp [::1]:6222: bind: address already in use",
      "cluster port 6222 (::1) is already in use",
      "cluster",
    ],
  ])("names the listener and port of %j", (fatal, reason, listener) => {
    const failure = startFailure([...START, line("FTL", fatal)].join("\n"));
    expect(failure?.reason).toBe(reason);
    expect(failure?.port?.listener).toBe(listener);
  });

  it("gives a fatal line that is not about a port in the server's own words", () => {
    const tail = [...START, line("FTL", "Can't start JetStream: could not create storage directory")].join(
      "\n",
    );
    expect(startFailure(tail)).toEqual({
      reason: "Can't start JetStream: could not create storage directory",
    });
  });

  it("reads a config error from the server's stderr, written before its log is open", () => {
    const tail = "nats-server: Parse error on line 2: 'Expected a map value terminator'";
    expect(startFailure(tail)).toEqual({
      reason: "Parse error on line 2: 'Expected a map value terminator'",
    });
  });

  it("prefers the fatal line to an earlier error, and says nothing when the log names no cause", () => {
    const tail = [...START, line("ERR", "a passing error"), line("FTL", "the reason")].join("\n");
    expect(startFailure(tail)?.reason).toBe("the reason");
    expect(startFailure(START.join("\n"))).toBeUndefined();
  });
});
