import { describe, expect, it } from "vitest";
import { NatsConfError, toNatsConf } from "./nats-conf.js";

describe("toNatsConf", () => {
  it("writes nested maps and arrays with every string quoted", () => {
    expect(
      toNatsConf({
        server_name: "hub",
        port: -1,
        debug: false,
        skipped: undefined,
        accounts: { FED: { users: [{ user: "fed", password: "p$1GB" }] } },
        empty: [],
      }),
    ).toBe(
      [
        'server_name: "hub"',
        "port: -1",
        "debug: false",
        "accounts: {",
        "  FED: {",
        "    users: [",
        "      {",
        '        user: "fed"',
        '        password: "p$1GB"',
        "      }",
        "    ]",
        "  }",
        "}",
        "empty: []",
        "",
      ].join("\n"),
    );
  });

  it("quotes keys that are not plain tokens", () => {
    expect(toNatsConf({ "a.b": 1 })).toBe('"a.b": 1\n');
  });

  it("escapes quotes and backslashes the way nats-server reads them", () => {
    expect(toNatsConf({ path: 'C:\\x"y' })).toBe('path: "C:\\\\x\\"y"\n');
  });

  it("refuses a control character, naming the field", () => {
    expect(() => toNatsConf({ accounts: { A: { users: [{ password: "a\nb" }] } } })).toThrow(
      new NatsConfError("accounts.A.users[0].password", "contains a control character"),
    );
  });

  it("refuses a lone surrogate and a non-integer number", () => {
    expect(() => toNatsConf({ s: "\ud800" })).toThrow(NatsConfError);
    expect(() => toNatsConf({ n: 1.5 })).toThrow(/n: not an integer/);
  });
});
