import { describe, expect, it } from "vitest";
import { checkSubmitForm } from "./ui-submit.js";

const form = (title: string) => ({
  project: "diabetes",
  tres: "a,b",
  title,
  analysis: '{"kind":"count","dataset":"patients"}',
});

describe("the researcher's page's submit form", () => {
  // Sent on, the hub's check of the Submission refused it as an unexpected error, after the page had connected.
  it("refuses a title with a control or formatting character, naming the field", () => {
    for (const title of ["\u001b[2Jcleared", "\u202eevil"])
      expect(checkSubmitForm(form(title))).toEqual({
        ok: false,
        errors: { title: "one line of text, without control or formatting characters" },
      });
    expect(checkSubmitForm(form("Patients by sex — 2026"))).toMatchObject({
      ok: true,
      submission: { title: "Patients by sex — 2026" },
    });
  });
});
