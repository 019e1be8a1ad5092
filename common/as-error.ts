/** What was thrown, as an Error: itself when it is one, else its text in a new one. */
export const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
