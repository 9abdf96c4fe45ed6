import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { registerDurabilityTest } from './durability.js';

describe('durability (embedded PGlite)', () => {
  registerDurabilityTest('PGlite', async () => ({ SYNCLINE_DATA_DIR: mkdtempSync(join(tmpdir(), 'syncline-kill-')) }));
});
