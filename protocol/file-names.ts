/**
 * File names that came from elsewhere (a researcher's container, a TRE), made safe to hold, show and write
 * anywhere. One rule on both sides of the airlock: the agent names what it collects from a container's
 * /outputs with it, and the researcher's CLI applies it again before writing a released file to disk (it
 * does not trust a TRE with its file system), so a name that was already safe comes out unchanged.
 */

/** Longest file name tremesh gives a file, extension included: well under every file system's 255-byte limit. */
export const MAX_FILE_NAME = 100;
/** A trailing `.ext` up to this long is kept when a name is cut or suffixed, so the file still opens as what it is. */
const MAX_EXTENSION = 16;

const SAFE_CHAR = /^[A-Za-z0-9._-]$/;

/**
 * A TRE's name for a file, made a plain file name: only `A-Z a-z 0-9 . _ -` (anything else, one `_` per
 * character), never starting with `.` (hidden, or `..`) or `-` (read as an option by shell tools), at most
 * `MAX_FILE_NAME` characters with the extension kept.
 *
 * @example
 * safeFileName("../../etc/passwd"); // "_._.._etc_passwd"
 */
export function safeFileName(name: string): string {
  let s = [...name.normalize("NFC")].map((c) => (SAFE_CHAR.test(c) ? c : "_")).join("");
  if (s.startsWith(".") || s.startsWith("-")) s = `_${s.slice(1)}`;
  if (s === "") s = "file";
  return withSuffix(s, "");
}

/** `name` with `suffix` before its extension, cut to `MAX_FILE_NAME` characters. `name` is already safe. */
function withSuffix(name: string, suffix: string): string {
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= MAX_EXTENSION ? name.slice(dot) : "";
  const stem = name.slice(0, name.length - ext.length);
  return `${stem.slice(0, MAX_FILE_NAME - ext.length - suffix.length)}${suffix}${ext}`;
}

/**
 * Safe names for files that go into one folder, in order: a name already taken (ignoring case, as macOS
 * and Windows do) gets `-2`, `-3`… before its extension, so no file overwrites another.
 */
export function uniqueSafeNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((raw) => {
    const safe = safeFileName(raw);
    let chosen = safe;
    for (let n = 2; taken.has(chosen.toLowerCase()); n++) chosen = withSuffix(safe, `-${n}`);
    taken.add(chosen.toLowerCase());
    return chosen;
  });
}
