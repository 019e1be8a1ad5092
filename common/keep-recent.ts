/**
 * A bounded memory of recent entries: `keepRecent` sets `key` as the newest entry of `map` (a `Map` keeps insertion
 * order) and drops the oldest once there are more than `limit`. For the copies services keep of what they last
 * wrote or read, so a long-running process holds the recent ones and never grows without bound.
 */
export function keepRecent<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value as string);
}
