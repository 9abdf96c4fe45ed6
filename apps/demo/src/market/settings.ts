/**
 * Per-replica settings in localStorage (they go with the replica, so a reload keeps them):
 * the offline switch and the conflict strategy.
 */
export type StrategyName = 'server-wins' | 'client-wins';

export interface MarketSettings {
  offline: boolean;
  strategy: StrategyName;
}

const DEFAULTS: MarketSettings = { offline: false, strategy: 'server-wins' };
const key = (replicaId: string) => `syncline-market:settings:${replicaId}`;

export function loadSettings(replicaId: string): MarketSettings {
  try {
    const v = JSON.parse(localStorage.getItem(key(replicaId)) ?? '{}') as Partial<MarketSettings>;
    return {
      offline: v.offline === true,
      strategy: v.strategy === 'client-wins' ? 'client-wins' : 'server-wins',
    };
  } catch {
    return { ...DEFAULTS };
  }
}

export function saveSettings(replicaId: string, s: MarketSettings): void {
  localStorage.setItem(key(replicaId), JSON.stringify(s));
}
