/**
 * Text from a TRE made safe to print on a terminal: control and formatting characters (escape sequences,
 * bidirectional overrides) shown as `\u{…}` instead of acting on the terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}
