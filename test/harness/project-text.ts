/** A project's title, lay summary and organisation as `tremesh admin project create|set` takes them. */
export function projectTextFlags(text: {
  title: string;
  laySummary: string;
  organisation: string;
}): string[] {
  return ["--title", text.title, "--lay-summary", text.laySummary, "--organisation", text.organisation];
}
