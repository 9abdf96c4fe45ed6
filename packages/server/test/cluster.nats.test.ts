import { natsAvailable, natsUrl } from '../../../test/services.js';
import { registerClusterTests } from './cluster-suite.js';

registerClusterTests('NATS', { url: natsUrl, defaultPort: 4222, available: natsAvailable });
