import { postgresAvailable, postgresUrl } from '../../../test/services.js';
import { registerClusterTests } from './cluster-suite.js';

registerClusterTests('PostgreSQL LISTEN/NOTIFY', { url: postgresUrl, defaultPort: 5432, available: postgresAvailable });
