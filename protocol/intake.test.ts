import { describe, expect, it } from "vitest";
import { sealEnvelope } from "./envelope.js";
import { newId } from "./ids.js";
import { openTaskMessage, type TaskSubject } from "./intake.js";
import { parseTreSubject, subjects } from "./subjects.js";
import { parties, statusBody } from "./test-fixtures.js";

describe("parseTreSubject", () => {
  it("parses each kind of TRE subject into its variant", () => {
    const taskId = newId();
    expect(parseTreSubject(subjects.dispatch("a", taskId))).toEqual({
      tre: "a",
      direction: "in",
      kind: "dispatch",
      taskId,
    });
    expect(parseTreSubject(subjects.release("b", taskId))).toMatchObject({
      direction: "out",
      kind: "release",
    });
    expect(parseTreSubject(subjects.heartbeat("a"))).toEqual({
      tre: "a",
      direction: "out",
      kind: "heartbeat",
    });
  });

  it("refuses unknown kinds, kinds in the wrong direction, and missing or extra task ids", () => {
    const taskId = newId();
    for (const subject of [
      `tremesh.tre.a.in.evil.${taskId}`,
      `tremesh.tre.a.out.dispatch.${taskId}`,
      `tremesh.tre.a.in.status.${taskId}`,
      "tremesh.tre.a.in.dispatch",
      `tremesh.tre.a.out.heartbeat.${taskId}`,
      `tremesh.tre.a.in.dispatch.${taskId.toLowerCase()}`,
      `tremesh.tre.A.in.dispatch.${taskId}`,
    ]) {
      expect(parseTreSubject(subject), subject).toBeUndefined();
    }
  });
});

describe("openTaskMessage", () => {
  const p = parties();

  it("opens a message as the type its subject names", async () => {
    const body = statusBody("a");
    const subject = subjects.status("a", body.taskId);
    const where = parseTreSubject(subject) as TaskSubject & { kind: "status" };
    const opened = await openTaskMessage(where, subject, sealEnvelope("status", body, p.treA), {
      trust: p.trust,
    });
    expect(opened.ok && opened.value.body.state).toBe(body.state);
  });

  it("refuses a message about another task than its subject's, naming both", async () => {
    const body = statusBody("a");
    const subject = subjects.status("a", newId());
    const where = parseTreSubject(subject) as TaskSubject;
    const opened = await openTaskMessage(where, subject, sealEnvelope("status", body, p.treA), {
      trust: p.trust,
    });
    expect(opened).toEqual({
      ok: false,
      error: { code: "wrong_subject", message: `status for task ${body.taskId} arrived on ${subject}` },
    });
  });

  it("refuses another type than the subject's, or a message for another TRE, with the envelope's code", async () => {
    const body = statusBody("a");
    const codeOn = async (subject: string) => {
      const bytes = sealEnvelope("status", body, p.treA);
      const opened = await openTaskMessage(parseTreSubject(subject) as TaskSubject, subject, bytes, {
        trust: p.trust,
      });
      return opened.ok ? "opened" : opened.error.code;
    };
    expect(await codeOn(subjects.release("a", body.taskId))).toBe("wrong_type");
    expect(await codeOn(subjects.status("b", body.taskId))).toBe("wrong_tre");
  });
});
