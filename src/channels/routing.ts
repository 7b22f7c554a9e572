// The order in which a request tries the channels that may take it: highest
// priority first; within one priority, a random order weighted by `weight`
// (Efraimidis–Spirakis: each channel draws u^(1/weight) and the largest goes
// first), so that the first choices spread in proportion to the weights and
// the rest are the failover order.

export interface Weighted {
  priority: number;
  weight: number;
}

export function routeOrder<T extends Weighted>(
  channels: readonly T[],
  random: () => number = Math.random,
): T[] {
  const keyed = channels.map((channel) => ({
    channel,
    // A weight of 0 never goes first while any other channel of its priority may.
    key: channel.weight > 0 ? random() ** (1 / channel.weight) : -1,
  }));
  keyed.sort((a, b) => b.channel.priority - a.channel.priority || b.key - a.key);
  return keyed.map(({ channel }) => channel);
}
