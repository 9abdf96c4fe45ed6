/** How this tab resolves conflicts, and whether the browser checks input before the server does. */
import { useState } from 'react';
import { browserChecks } from './schemas';
import type { StrategyName } from './settings';

interface Props {
  strategy: StrategyName;
  onStrategy: (s: StrategyName) => void;
}

const HELP: Record<StrategyName, string> = {
  'server-wins': "When another edit got there first, keep the server's version and drop this tab's.",
  'client-wins': "Re-apply this tab's changed fields on top of the server's version.",
};

export function SettingsPanel({ strategy, onStrategy }: Props) {
  const [checks, setChecks] = useState(browserChecks.enabled);
  return (
    <section className="card side-card" aria-labelledby="settings-title">
      <h2 id="settings-title">This tab</h2>
      <label className="field">
        <span>Conflict strategy</span>
        <select data-testid="conflict-strategy" value={strategy} onChange={(e) => onStrategy(e.target.value as StrategyName)}>
          <option value="server-wins">server wins (default)</option>
          <option value="client-wins">client wins</option>
          <option value="merge" disabled>
            merge by field clocks (document collections only)
          </option>
        </select>
      </label>
      <p className="muted small">{HELP[strategy]}</p>
      <label className="check">
        <input
          type="checkbox"
          data-testid="skip-validation"
          checked={!checks}
          onChange={(e) => {
            browserChecks.enabled = !e.target.checked;
            setChecks(browserChecks.enabled);
          }}
        />
        <span>Skip browser checks (let the server refuse, e.g. a negative price)</span>
      </label>
    </section>
  );
}
