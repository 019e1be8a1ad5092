import { describe, expect, it } from "vitest";
import { toNatsConf } from "./nats-conf.js";
import { pinListenPorts } from "./nats-conf-ports.js";

describe("pinListenPorts", () => {
  it("pins the client, monitoring and leafnode ports and nothing else", () => {
    const text = toNatsConf({
      port: -1,
      http_port: -1,
      jetstream: { store_dir: "/x" },
      leafnodes: { port: -1, authorization: { users: [{ user: "u", password: "-1" }] } },
      mqtt: { port: -1 },
    });
    const pinned = pinListenPorts(text, { client: 4222, leaf: 7422, monitor: 8222 });
    expect(pinned).toBe(
      toNatsConf({
        port: 4222,
        http_port: 8222,
        jetstream: { store_dir: "/x" },
        leafnodes: { port: 7422, authorization: { users: [{ user: "u", password: "-1" }] } },
        mqtt: { port: -1 },
      }),
    );
  });

  it("pins an `http: host:-1` listener and leaves fixed ports alone", () => {
    const text = 'port: 4000\nhttp: "127.0.0.1:-1"\n';
    expect(pinListenPorts(text, { client: 1, monitor: 8222 })).toBe('port: 4000\nhttp: "127.0.0.1:8222"\n');
  });
});
